"""Container workflows: the spec and its catalog files, resource checks, the local runner and the Kubeflow compiler."""
