# OpenExec Gateway container image.
#
#   docker build -t openexec-gateway .
#   docker run -p 8080:8080 -v openexec-data:/data \
#     -e CLAWSHIELD_PUBLIC_KEY="$(cat governance-public.pem)" \
#     -e CLAWSHIELD_TENANT_ID=tenant-001 \
#     openexec-gateway
#
# The image defaults to clawshield mode: demo mode refuses to listen on a non-loopback address,
# and a container must listen on 0.0.0.0. For a throwaway demo instead:
#   docker run -p 127.0.0.1:8080:8080 -e OPENEXEC_MODE=demo -e OpenExec__AllowDemoOnNetwork=true openexec-gateway

# ---- build ----------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files only, so that the layer is reused while they don't change.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/OpenExec.Core/OpenExec.Core.csproj src/OpenExec.Core/
COPY src/OpenExec.Gateway/OpenExec.Gateway.csproj src/OpenExec.Gateway/
RUN dotnet restore src/OpenExec.Gateway/OpenExec.Gateway.csproj

COPY src/ src/
RUN dotnet publish src/OpenExec.Gateway/OpenExec.Gateway.csproj \
      --configuration Release --no-restore --output /app -p:UseAppHost=false

# ---- runtime --------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime

# curl only for HEALTHCHECK (the aspnet image has none).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY --from=build /app ./

# The data dir holds the embedded store, the gateway id and the receipt-signing key: keep it on
# a volume, or every new container starts a new receipt chain with a new key. Owned by the
# image's non-root user (app, UID $APP_UID = 1654); a bind mount must be writable by that UID.
RUN mkdir -p /data && chown "$APP_UID:$APP_UID" /data
VOLUME ["/data"]

ENV OPENEXEC_DATA_DIR=/data \
    OPENEXEC_MODE=clawshield \
    ASPNETCORE_URLS=http://0.0.0.0:8080 \
    ASPNETCORE_HTTP_PORTS=

USER $APP_UID
EXPOSE 8080

# /ready is 200 only while the store answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/ready || exit 1

ENTRYPOINT ["dotnet", "OpenExec.Gateway.dll"]
