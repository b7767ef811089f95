# compliance-monitor: slim, non-root image running the daemon.
#   docker build -t compliance-monitor .
#   docker run -v $PWD/config.yaml:/etc/compliance-monitor/config.yaml:ro \
#              -v cm-state:/var/lib/compliance-monitor -e KANDJI_TOKEN compliance-monitor
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY rules ./rules
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# The shipped rule packs install to /usr/local/share/compliance-monitor/rules.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    COMPLIANCE_MONITOR_STATE=/var/lib/compliance-monitor
COPY --from=build /install /usr/local
# The example config is shipped for reference only: with no config mounted at
# /etc/compliance-monitor/config.yaml the container exits 2 ("file not found") rather
# than run the example against a simulator that is not there.
COPY config.example.yaml /usr/local/share/compliance-monitor/config.example.yaml
# A fixed, unprivileged user; the state volume is the only writable place.
RUN groupadd --system --gid 10001 monitor \
 && useradd --system --uid 10001 --gid monitor --home-dir /var/lib/compliance-monitor --shell /usr/sbin/nologin monitor \
 && mkdir -p /var/lib/compliance-monitor && chown monitor:monitor /var/lib/compliance-monitor
USER 10001:10001
WORKDIR /var/lib/compliance-monitor
VOLUME ["/var/lib/compliance-monitor"]
EXPOSE 8080
# /readyz answers without the web token (status code and one word), so the check works
# when web.token is set; it needs web.port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["compliance-monitor"]
CMD ["run", "-c", "/etc/compliance-monitor/config.yaml"]
