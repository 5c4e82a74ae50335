# churn's serving image: `churn serve` on port 8000 as a non-root user, with a model bundle baked
# in at build time (build argument MODEL_DIR, a folder written by `churn train`). MODEL_URI can
# point anywhere else at run time (another folder, runs:/..., models:/name@alias with
# MLFLOW_TRACKING_URI). Training is left out of this build (no XGBoost C++ library): the image
# holds one binary, the C runtime it links, CA certificates and the model.
# checkov:skip=CKV_DOCKER_7: the builder image is a build argument whose default is pinned (rust:1.95-bookworm)
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS build
# Marks the build stage's (cache) images, so they can be found and removed.
LABEL churn.stage=build
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=true
# Dependencies first, cached as long as Cargo.toml and Cargo.lock do not change. (crates/ holds
# the XGBoost bindings the manifest patches in; the serving build does not compile them. The
# manifest names its examples, so cargo reads examples/ to parse it; none is built here.)
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY examples examples
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features \
 && rm -rf src target/release/.fingerprint/churn-* target/release/deps/churn-* target/release/deps/libchurn-*
COPY assets assets
COPY src src
RUN cargo build --release --locked --no-default-features
# A minimal root filesystem for a scratch image.
RUN mkdir -p /out/lib/x86_64-linux-gnu /out/lib64 /out/etc/ssl/certs /out/tmp \
 && cp target/release/churn /out/churn \
 && for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do \
      cp -L "/lib/x86_64-linux-gnu/$lib" /out/lib/x86_64-linux-gnu/; \
    done \
 && cp -L /lib64/ld-linux-x86-64.so.2 /out/lib64/ \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nchurn:x:10001:10001:churn:/nonexistent:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nchurn:x:10001:\n' > /out/etc/group \
 && printf 'hosts: files dns\n' > /out/etc/nsswitch.conf \
 && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /out/ /
ARG MODEL_DIR=model
COPY ${MODEL_DIR} /model
# Models fetched from an MLflow server are cached under /tmp (writable also when the root file
# system is read-only, as in the ECS task).
ENV MODEL_URI=/model \
    HOST=0.0.0.0 \
    PORT=8000 \
    CHURN_CACHE_DIR=/tmp/churn-cache
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/churn", "healthcheck"]
ENTRYPOINT ["/churn", "serve"]
