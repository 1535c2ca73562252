// Tool module: pins the protobuf and gRPC code generators apart from the
// product module.
module github.com/plexus-mesh/plexus/hack/tools/proto

go 1.26.0

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2
	google.golang.org/protobuf v1.36.12
)
