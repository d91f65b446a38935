package cli

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/server"
)

//go:embed templates
var templates embed.FS

// templateInfo says what each template makes.
var templateInfo = map[string]string{
	"go": "a Go net/http handler (the guest SDK), built by 'nanoedge push' or 'apply'",
	"c":  "a C handler as a CGI module, built with clang for wasm32-wasi",
}

func templateNames() []string {
	var names []string
	for n := range templateInfo {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (e *env) newCmd() *cobra.Command {
	var lines []string
	for _, n := range templateNames() {
		lines = append(lines, fmt.Sprintf("  %-4s %s", n, templateInfo[n]))
	}
	c := e.leaf("new <template> <dir>", "scaffold a handler that builds and deploys as it is",
		exactArgs(2, "the template ("+strings.Join(templateNames(), ", ")+") and the directory to create"), func(fs *flag.FlagSet) runFunc {
			name := fs.String("name", "", "the handler's name: its module and route (default: the directory's name)")
			sdk := fs.String("sdk", "", "a nanoedge source tree the Go handler builds its guest SDK from (default: the tree this command runs in, if any; else the released module)")
			return func(ctx context.Context, args []string) error {
				return e.scaffold(ctx, args[0], args[1], *name, *sdk)
			}
		})
	c.Long = "Templates:\n" + strings.Join(lines, "\n")
	return c
}

var handlerName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

type scaffoldData struct {
	Name, Module, GoVersion, SDKVersion, SDKPath string
}

func (e *env) scaffold(ctx context.Context, tmpl, dir, name, sdk string) error {
	if _, ok := templateInfo[tmpl]; !ok {
		return usageErr("unknown template %q; want %s", tmpl, strings.Join(templateNames(), ", "))
	}
	if name == "" {
		name = defaultName(dir)
	}
	if !handlerName.MatchString(name) {
		return usageErr("handler name %q: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit (--name)", name)
	}
	if err := registry.ValidateName(name); err != nil {
		return usageErr("handler name %q: %v", name, err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty; pick a new directory", dir)
	}
	d := scaffoldData{Name: name, Module: "example.com/" + name, GoVersion: goVersion(), SDKVersion: sdkVersion()}
	if tmpl == "go" {
		if sdk == "" {
			sdk = enclosingNanoedge()
		}
		if sdk != "" {
			abs, err := filepath.Abs(sdk)
			if err != nil {
				return err
			}
			d.SDKPath = abs
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := path.Join("templates", tmpl)
	var written []string
	err := fs.WalkDir(templates, root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Parse(string(src))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := t.Execute(&out, d); err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		if err := os.WriteFile(filepath.Join(dir, rel), out.Bytes(), 0o644); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	})
	if err != nil {
		return err
	}
	if tmpl == "go" {
		tidy := exec.CommandContext(ctx, wasmbuild.GoTool(), "mod", "tidy")
		tidy.Dir = dir
		if out, err := tidy.CombinedOutput(); err != nil {
			return fmt.Errorf("go mod tidy in %s: %v\n%s(with no nanoedge source tree at hand, the released guest SDK is needed: pass --sdk DIR to build from a checkout)", dir, err, out)
		}
		written = append(written, "go.sum")
	}
	sort.Strings(written)
	fmt.Fprintf(e.stdout, "created %s (%s): %s\n", dir, tmpl, strings.Join(written, ", "))
	switch tmpl {
	case "go":
		fmt.Fprintf(e.stdout, "next: nanoedge dev --watch %s   (or: nanoedge apply -f %s)\n", dir, filepath.Join(dir, "nanoedge.yaml"))
	case "c":
		fmt.Fprintf(e.stdout, "next: make -C %s && nanoedge apply -f %s\n", dir, filepath.Join(dir, "nanoedge.yaml"))
	}
	return nil
}

// goVersion is the go directive for a new module: this binary's Go.
func goVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		return parts[0] + "." + parts[1]
	}
	return "1.26"
}

// sdkVersion is the guest SDK version a new Go handler requires: this
// binary's release, else a placeholder the replace directive stands for.
func sdkVersion() string {
	if v := server.Version(); regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(v) {
		return v
	}
	return "v0.0.0"
}

// enclosingNanoedge finds the nanoedge source tree the working directory
// is in, "" if none.
func enclosingNanoedge() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			if regexp.MustCompile(`(?m)^module github\.com/nanoedge/nanoedge\s*$`).Match(b) {
				return dir
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
