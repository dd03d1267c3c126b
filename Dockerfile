# OperatorFlow app image: the Streamlit app, its in-process worker and the local engines.
FROM python:3.11-slim-bookworm

# PySpark 4 needs a Java 17+ runtime; procps gives Spark's scripts `ps`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 operatorflow
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY pyproject.toml Home.py ./
COPY operatorflow/ operatorflow/
COPY app_pages/ app_pages/
COPY catalog/ catalog/
COPY examples/ examples/
COPY .streamlit/ .streamlit/
# Editable, so the package finds catalog/, examples/ and Home.py beside it in /app.
RUN pip install --no-cache-dir --no-deps -e . && mkdir -p /data && chown operatorflow /data

USER operatorflow
ENV OPERATORFLOW_HOME=/data \
    SPARK_LOCAL_IP=127.0.0.1 \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8501

# HTTPS only: mount a certificate and set OPERATORFLOW_TLS_CERT_FILE/OPERATORFLOW_TLS_KEY_FILE,
# or a self-signed one is generated under /data/tls on first start.
CMD ["operatorflow", "serve", "--address", "0.0.0.0"]
