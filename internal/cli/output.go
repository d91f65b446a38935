package cli

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"
)

// checkOutput refuses an --output no command writes.
func checkOutput(o string) error {
	if o != "text" && o != "json" && o != "yaml" {
		return usageErr("--output %q: want text, json or yaml", o)
	}
	return nil
}

// emit writes a command's result: v as one JSON or YAML document, else
// what text writes for people (nothing if text is nil).
func emit(w io.Writer, output string, v any, text func(w io.Writer)) error {
	if err := checkOutput(output); err != nil {
		return err
	}
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plain(reflect.ValueOf(v)))
	case "yaml":
		b, err := yaml.Marshal(plain(reflect.ValueOf(v)))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	if text != nil {
		text(w)
	}
	return nil
}

func (f clientFlags) emit(e *env, v any, text func(w io.Writer)) error {
	return emit(e.stdout, *f.output, v, text)
}

// plain turns v into maps, slices and scalars for encoding. Protobuf
// messages keep the field names of the .proto files, as protojson does,
// but every number is a number (protojson writes 64-bit integers as
// strings): a field has one type in every document.
func plain(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if m, ok := v.Interface().(proto.Message); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		return message(m.ProtoReflect())
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = plain(it.Value())
		}
		return out
	}
	return v.Interface()
}

func message(m protoreflect.Message) any {
	switch v := m.Interface().(type) {
	case *timestamppb.Timestamp:
		return v.AsTime().UTC().Format(time.RFC3339Nano)
	case *durationpb.Duration:
		return v.AsDuration().String()
	}
	out := map[string]any{}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			s := make([]any, l.Len())
			for i := range s {
				s[i] = scalar(fd, l.Get(i))
			}
			out[string(fd.Name())] = s
		case fd.IsMap():
			mp := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				mp[k.String()] = scalar(fd.MapValue(), mv)
				return true
			})
			out[string(fd.Name())] = mp
		default:
			out[string(fd.Name())] = scalar(fd, v)
		}
		return true
	})
	return out
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return message(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint()
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float()
	}
	return v.Interface()
}
