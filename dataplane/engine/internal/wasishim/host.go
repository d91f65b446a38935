package wasishim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// Host is the host functions of abi.ImportModule, for every engine: a
// handler reads its worker's flags and edge data, calls out over HTTP and
// streams its response through them, reaching what System.Call reaches.
// Unlike WASI's, a pointer outside guest memory traps.
var Host = append(hostEdge, hostHTTP...)

// hostEdge are the flag and store reads.
var hostEdge = []Func{
	{abi.ImportFlag, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		on, ok := s.call().EdgeData().Flag(string(slice(mem, arg(a, 0), arg(a, 1))))
		switch {
		case !ok:
			return i32(abi.NotFound), nil
		case on:
			return abi.FlagOn, nil
		}
		return abi.FlagOff, nil
	}},
	{abi.ImportKVGet, []Kind{I32, I32, I32, I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		v, found, ok := s.call().EdgeData().Get(string(slice(mem, arg(a, 0), arg(a, 1))), string(slice(mem, arg(a, 2), arg(a, 3))))
		switch {
		case !ok:
			return i32(abi.NoStore), nil
		case !found:
			return i32(abi.NotFound), nil
		}
		if uint64(len(v)) <= arg(a, 5) {
			copy(slice(mem, arg(a, 4), uint64(len(v))), v)
		}
		return uint32(len(v)), nil
	}},
}

func i32(v int32) uint32 { return uint32(v) }

func (s *System) call() *engine.Call {
	if s.Call == nil {
		return &engine.Call{}
	}
	return s.Call
}

// httpSend decodes the guest's request and sends it.
func httpSend(s *System, mem []byte, a []uint64) (uint32, error) {
	c := s.call()
	ar, err := abi.DecodeRequest(slice(mem, arg(a, 0), arg(a, 1)))
	if err != nil {
		c.Fail(err)
		return i32(abi.Invalid), nil
	}
	req, err := http.NewRequest(ar.Method, ar.URI, nil)
	if err != nil {
		c.Fail(err)
		return i32(abi.Invalid), nil
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		c.Fail(fmt.Errorf("%q is not an absolute http or https URL", ar.URI))
		return i32(abi.Invalid), nil
	}
	req.Header = ar.Header
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if ar.Host != "" {
		req.Host = ar.Host
	}
	if len(ar.Body) > 0 {
		body := bytes.Clone(ar.Body) // guest memory is the guest's again once this returns
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	h, _, err := c.Send(req)
	if err != nil {
		return i32(outboundCode(err)), nil
	}
	return uint32(h), nil
}

// outboundCode is what an outbound failure answers the guest.
func outboundCode(err error) int32 {
	switch {
	case errors.Is(err, engine.ErrRefused):
		return abi.Refused
	case errors.Is(err, engine.ErrLimited):
		return abi.Limited
	case errors.Is(err, engine.ErrBadResponse):
		return abi.Invalid
	}
	return abi.Failed
}

// copyOut copies b to buf when it fits and returns its length.
func copyOut(mem []byte, buf, capacity uint64, b []byte) uint32 {
	if uint64(len(b)) <= capacity {
		copy(slice(mem, buf, uint64(len(b))), b)
	}
	return uint32(len(b))
}

// HTTP and response streaming are the rest of Host.
var hostHTTP = []Func{
	{abi.ImportHTTPSend, []Kind{I32, I32}, []Kind{I32}, httpSend},
	{abi.ImportHTTPHead, []Kind{I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		resp := s.call().Response(int(int32(a[0])))
		if resp == nil {
			s.call().Fail(engine.ErrNoResponse)
			return i32(abi.Invalid), nil
		}
		head := abi.AppendResponse(nil, &abi.Response{Status: resp.StatusCode, Header: resp.Header})
		return copyOut(mem, arg(a, 1), arg(a, 2), head), nil
	}},
	{abi.ImportHTTPRead, []Kind{I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		n, err := s.call().Read(int(int32(a[0])), slice(mem, arg(a, 1), min(arg(a, 2), 1<<30)))
		switch {
		case n > 0 || err == io.EOF || err == nil:
			return uint32(n), nil
		case s.call().Response(int(int32(a[0]))) == nil:
			return i32(abi.Invalid), nil
		}
		return i32(outboundCode(err)), nil
	}},
	{abi.ImportHTTPClose, []Kind{I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		s.call().CloseResponse(int(int32(a[0])))
		return 0, nil
	}},
	{abi.ImportHTTPError, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return copyOut(mem, arg(a, 0), arg(a, 1), []byte(s.call().LastError())), nil
	}},
	{abi.ImportResponseStart, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		r, err := abi.DecodeResponse(slice(mem, arg(a, 0), arg(a, 1)))
		if err == nil {
			err = s.call().StartResponse(r.Status, r.Header)
		}
		switch {
		case err == nil:
			return 0, nil
		case errors.Is(err, engine.ErrNoStream):
			return i32(abi.Unsupported), nil
		}
		s.call().Fail(err)
		return i32(abi.Invalid), nil
	}},
	{abi.ImportResponseTrailers, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		r, err := abi.DecodeResponse(slice(mem, arg(a, 0), arg(a, 1)))
		if err == nil {
			err = s.call().WriteTrailers(r.Header)
		}
		if err != nil {
			s.call().Fail(err)
			return i32(abi.Invalid), nil
		}
		return 0, nil
	}},
	{abi.ImportResponseWrite, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		err := s.call().WriteResponse(slice(mem, arg(a, 0), arg(a, 1)))
		switch {
		case err == nil:
			return 0, nil
		case errors.Is(err, engine.ErrBadResponse):
			return i32(abi.Invalid), nil
		case errors.Is(err, engine.ErrLimited):
			return i32(abi.Limited), nil
		}
		return i32(abi.Failed), nil
	}},
}

// Set is one import module the engines offer a handler.
type Set struct {
	Module string
	Funcs  []Func
	// Traps: a bad pointer traps the call (Host) rather than answering
	// EFAULT (WASI).
	Traps bool
}

// Call runs f, one of the set's functions.
func (set Set) Call(f *Func, s *System, mem []byte, args []uint64) (uint32, error) {
	if set.Traps {
		return f.CallHost(s, mem, args)
	}
	return f.Call(s, mem, args)
}

// Imports are all a handler may import: WASI, and the host functions of
// abi.ImportModule.
var Imports = []Set{{ModuleName, Funcs, false}, {abi.ImportModule, Host, true}}

// Importable reports whether module.name is one of Imports.
func Importable(module, name string) bool {
	for _, set := range Imports {
		if set.Module != module {
			continue
		}
		for _, f := range set.Funcs {
			if f.Name == name {
				return true
			}
		}
	}
	return false
}

// errFault traps a host function given a pointer outside guest memory.
var errFault = errors.New("nanoedge host function: pointer outside guest memory")

// CallHost runs a Host function: as Call, but a bad pointer traps.
func (f *Func) CallHost(s *System, mem []byte, args []uint64) (result uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(outOfBounds); !ok {
				panic(r)
			}
			result, err = 0, errFault
		}
	}()
	return f.call(s, mem, args)
}

// HostFunc reports whether a Host function has that name and signature:
// what the checks of a module's imports ask.
func HostFunc(name string, params, results []Kind) bool {
	for _, f := range Host {
		if f.Name == name {
			return slices.Equal(f.Params, params) && slices.Equal(f.Results, results)
		}
	}
	return false
}
