package cli

import (
	"encoding/json"
	"io"
	"reflect"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// emit writes a command's result: v as one JSON document with --output
// json, else what text writes for people.
func (f clientFlags) emit(e *env, v any, text func(w io.Writer)) error {
	if *f.output != "json" {
		text(e.stdout)
		return nil
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonValue(reflect.ValueOf(v)))
}

var protoJSON = protojson.MarshalOptions{UseProtoNames: true}

// jsonValue renders protobuf messages with protojson (field names as in
// the .proto files) wherever they sit: alone, in slices or in maps.
func jsonValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if m, ok := v.Interface().(proto.Message); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		b, err := protoJSON.Marshal(m)
		if err != nil {
			return err.Error()
		}
		return json.RawMessage(b)
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = jsonValue(it.Value())
		}
		return out
	}
	return v.Interface()
}
