package admin_test

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
)

// specPath turns a mux pattern into the OpenAPI path: {id...} is {id},
// and the exact root "/{$}" is "/".
func specPath(p string) string {
	p = strings.ReplaceAll(p, "...}", "}")
	return strings.ReplaceAll(p, "{$}", "")
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// Every route the handler serves is in openapi.yaml, and the file
// describes no route the handler does not serve.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
		Comps   map[string]map[string]any       `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.0.") {
		t.Errorf("openapi: %q, want 3.0.x", spec.OpenAPI)
	}

	m := metrics.New()
	a := admin.New(broker.New(broker.Options{SysInterval: -1}), m, admin.Options{})
	served := map[string]bool{} // "get /api/v1/clients"
	for _, r := range a.Routes() {
		p := specPath(r.Path)
		method := strings.ToLower(r.Method)
		if method == "" {
			method = "get" // any-method routes (pprof) are documented as GET
		}
		served[method+" "+p] = true
		ops, ok := spec.Paths[p]
		if !ok {
			t.Errorf("route %s %s is not in openapi.yaml (as %s)", r.Method, r.Path, p)
			continue
		}
		if _, ok := ops[method]; !ok {
			t.Errorf("route %s %s: openapi.yaml has no %s operation", r.Method, r.Path, method)
		}
	}
	for p, ops := range spec.Paths {
		for op := range ops {
			if !contains(httpMethods, op) {
				continue // parameters, summary
			}
			if !served[op+" "+p] {
				t.Errorf("openapi.yaml describes %s %s, which is not served", strings.ToUpper(op), p)
			}
		}
	}

	// A null value means a plain scalar with ", " was cut in two inside a
	// flow mapping: quote it.
	var root yaml.Node
	yaml.Unmarshal(raw, &root)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if v := n.Content[i+1]; v.Tag == "!!null" {
					t.Errorf("openapi.yaml line %d: %q has no value (a comma in an unquoted string?)", v.Line, n.Content[i].Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)

	// Every $ref points at something that exists.
	for _, ref := range regexp.MustCompile(`\$ref: "#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(raw), -1) {
		if _, ok := spec.Comps[ref[1]][ref[2]]; !ok {
			t.Errorf("dangling $ref %s/%s", ref[1], ref[2])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The API serves the same file, and docs/admin-api.md names every API
// route.
func TestAPIDocsAndServedSpec(t *testing.T) {
	e := start(t, admin.Options{})
	resp, err := http.Get(e.http.URL + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	onDisk, _ := os.ReadFile("openapi.yaml")
	if resp.StatusCode != 200 || string(served) != string(onDisk) {
		t.Errorf("GET /api/v1/openapi.yaml: %d, %d bytes (file has %d)", resp.StatusCode, len(served), len(onDisk))
	}

	doc, err := os.ReadFile("../docs/admin-api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.admin.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		want := r.Method + " " + specPath(r.Path)
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/admin-api.md does not describe %s", want)
		}
	}
}
