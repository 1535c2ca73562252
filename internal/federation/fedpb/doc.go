// Package fedpb holds the federation API's protocol buffers, generated
// from federation.proto by hack/protoc.sh.
package fedpb
