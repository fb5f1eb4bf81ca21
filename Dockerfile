# Build with the official Swift image, run on slim Debian with only the runtime libraries.
FROM swift:6.0-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnifti-dev libopenblas-dev libpng-dev libsqlite3-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# The binary finds its resource bundle (openapi.json) beside itself.
RUN swift build -c release --static-swift-stdlib \
    && install -D .build/release/kidneyseg /out/kidneyseg \
    && cp -r .build/release/kidneyseg_Service.resources /out/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0 libnifti2-2 libznz3 libpng16-16 libsqlite3-0 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/kidneyseg --create-home kidneyseg
COPY --from=build /out/ /usr/local/bin/
USER kidneyseg
WORKDIR /var/lib/kidneyseg
ENTRYPOINT ["kidneyseg"]
CMD ["--help"]
