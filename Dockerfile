# One image for every floe function; FLOE_FUNCTION picks which one a container runs (the Knative Services in
# knative/services/ set it). Build: docker build -t ghcr.io/floe-dev/floe:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild esbuild
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    FLOE_LOG_FORMAT=json \
    PORT=8080
WORKDIR /app
# Only the self-contained bundles and the wasm files they load: no node_modules, no sources.
COPY --from=build /src/dist/functions/ /app/functions/
COPY knative/config/pipeline.yaml /etc/floe/pipeline.yaml
# Numeric on purpose: with runAsNonRoot the kubelet refuses to start an image whose USER is a name, because it cannot
# tell whether that name is root (`kn func deploy` sets runAsNonRoot without runAsUser). 1000:1000 is the node image's
# user `node`.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["/bin/sh", "-c", "exec node --enable-source-maps /app/functions/${FLOE_FUNCTION:?set FLOE_FUNCTION to the function to run}.mjs"]
