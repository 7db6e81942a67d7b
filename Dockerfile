# The one AgentLinks binary; docker-compose.yml runs it as `migrate`, `api`
# and `worker`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/agentlinks ./cmd/agentlinks

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentlinks /agentlinks
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/agentlinks"]
CMD ["api"]
