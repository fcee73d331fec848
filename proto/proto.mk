# Wire contracts: protoc-c generates C from proto/hutch/v1/*.proto into $(BUILD)/gen.
PROTO_SRCS := $(wildcard proto/hutch/v1/*.proto)
PROTO_GEN_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTO_SRCS))
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<
# Made by a pattern rule, so make would delete them as intermediates after a build and
# make them (and every object, which depends on the headers) again the next time.
.SECONDARY: $(PROTO_GEN_C) $(PROTO_GEN_H)

# The same contracts as Python classes (protoc, python3-protobuf) for the end-to-end
# tests and the benchmark drivers: build/py/hutch/v1/*_pb2.py, whatever MODE is.
PY_PROTO := $(patsubst proto/%.proto,build/py/%_pb2.py,$(PROTO_SRCS))

build/py/%_pb2.py: proto/%.proto
	@mkdir -p build/py
	protoc --proto_path=proto --python_out=build/py $<

.PHONY: pyproto
pyproto: $(PY_PROTO)
