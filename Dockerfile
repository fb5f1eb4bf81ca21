# kidneyseg: build with the official Swift image, run on slim Debian with only the runtime
# libraries. The image serves on port 8080 with the models baked in and the data on a volume.
FROM swift:6.0-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnifti-dev libopenblas-dev libpng-dev libsqlite3-dev zlib1g-dev libgdcm-dev libdcmtk-dev libzip-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# The binary finds its resource bundle (openapi.json) beside itself.
RUN swift build -c release --static-swift-stdlib \
    && install -D .build/release/kidneyseg /out/bin/kidneyseg \
    && cp -r .build/release/kidneyseg_Service.resources /out/bin/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0 libnifti2-2 libznz3 libpng16-16 libsqlite3-0 zlib1g libgdcm3.0 libdcmtk17 libzip4 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/kidneyseg --create-home kidneyseg
COPY --from=build /out/bin/ /usr/local/bin/
COPY Models /usr/local/share/kidneyseg/models
COPY Config/kidneyseg.json /etc/kidneyseg/kidneyseg.json
# Defaults for a container: listen on every interface, data on the volume, the baked-in models.
# Set KIDNEYSEG_TOKENS (and KIDNEYSEG_REQUIRE_TOKENS=true) to turn authentication on.
ENV KIDNEYSEG_HOST=0.0.0.0 \
    KIDNEYSEG_PORT=8080 \
    KIDNEYSEG_DATA_DIR=/var/lib/kidneyseg \
    KIDNEYSEG_MODELS_DIR=/usr/local/share/kidneyseg/models
VOLUME ["/var/lib/kidneyseg"]
EXPOSE 8080
USER 10001
WORKDIR /var/lib/kidneyseg
# No curl in the slim image: bash's /dev/tcp asks /healthz for its status line.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# SIGTERM drains: running jobs finish (up to 30 s) or go back to the queue.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kidneyseg"]
CMD ["serve", "--config", "/etc/kidneyseg/kidneyseg.json"]
