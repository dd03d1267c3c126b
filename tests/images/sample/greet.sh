#!/bin/sh
# Print a greeting with the given word (default: hello); the build stores its output in the image.
echo "${1:-hello} from the OperatorFlow sample image"
