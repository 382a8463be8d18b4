# keyward container image. Build steps live in scripts/ (CI runs the same scripts).
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/deps.sh && bash scripts/build-release.sh

FROM debian:12-slim
COPY deploy/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && grep -v '^#' /tmp/runtime-packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /src/build/release/proxy/keyward /usr/local/bin/keyward
COPY conf/examples /etc/keyward/examples
# Unprivileged: keyward needs no root; bind 8443 (not 443) inside the container.
USER 65532:65532
EXPOSE 8443 9091
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve", "--config", "/etc/keyward/keyward.yaml"]
