package bridge

import (
	"testing"
	"time"
)

// Mosquitto's "topic pattern direction qos local-prefix remote-prefix"
// renaming, both ways.
func TestMapTopics(t *testing.T) {
	topics := []Topic{
		{Pattern: "sensors/#", Direction: Out, LocalPrefix: "", RemotePrefix: "site1/"},
		{Pattern: "cmd/+", Direction: In, LocalPrefix: "cloud/", RemotePrefix: "site1/"},
		{Pattern: "#", Direction: Both, LocalPrefix: "shared/", RemotePrefix: "all/"},
		{Pattern: "", Direction: Both, LocalPrefix: "house/main-light", RemotePrefix: "site1/light"},
		{Pattern: "a/#", Direction: Out, LocalPrefix: "x/", RemotePrefix: ""},
	}
	out := []struct{ local, remote string }{
		{"sensors/t1", "site1/sensors/t1"},
		{"sensors", "site1/sensors"},
		{"shared/x/y", "all/x/y"},
		{"house/main-light", "site1/light"},
		{"x/a/b", "a/b"},
		{"cloud/cmd/reboot", ""}, // in only
		{"other", ""},
		{"house/main-light/2", ""},
	}
	for _, c := range out {
		got, ok := mapOut(topics, c.local)
		if got != c.remote || ok != (c.remote != "") {
			t.Errorf("out %q: got %q %v, want %q", c.local, got, ok, c.remote)
		}
	}
	in := []struct{ remote, local string }{
		{"site1/cmd/reboot", "cloud/cmd/reboot"},
		{"all/x", "shared/x"},
		{"site1/light", "house/main-light"},
		{"site1/sensors/t1", ""}, // out only
		{"site1/cmd/a/b", ""},
	}
	for _, c := range in {
		got, ok := mapIn(topics, c.remote)
		if got != c.local || ok != (c.local != "") {
			t.Errorf("in %q: got %q %v, want %q", c.remote, got, ok, c.local)
		}
	}
	if !subscribedIn(topics, "all/x") || subscribedIn(topics, "site1/sensors/t1") {
		t.Error("subscribedIn")
	}
}

func TestEchoes(t *testing.T) {
	e := newEchoes()
	if e.take("t", []byte("a")) {
		t.Fatal("an echo never expected")
	}
	e.expect("t", []byte("a"))
	e.expect("t", []byte("a"))
	if e.take("t", []byte("b")) || e.take("u", []byte("a")) {
		t.Fatal("another payload or topic taken for an echo")
	}
	if !e.take("t", []byte("a")) || !e.take("t", []byte("a")) {
		t.Fatal("expected echoes not recognised")
	}
	if e.take("t", []byte("a")) {
		t.Fatal("more echoes taken than expected")
	}
	// An expectation is forgotten after the window.
	k := e.key("t", []byte("old"))
	e.want[k] = []time.Time{time.Now().Add(-time.Second)}
	if e.take("t", []byte("old")) {
		t.Fatal("an expired expectation taken")
	}
	if len(e.want) != 0 {
		t.Errorf("left behind: %v", e.want)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Name: "b", Address: "mqtts://h", TLS: &TLS{Insecure: true}, Topics: []Topic{{Pattern: "#"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Config{
		{Name: "a/b", Address: "h:1", Topics: []Topic{{Pattern: "#"}}},
		{Name: "b", Address: "h:1", Version: 6, Topics: []Topic{{Pattern: "#"}}},
		{Name: "b", Address: "h:1", Topics: []Topic{{Pattern: "#", QoS: 3}}},
		{Name: "b", Address: "h:1", Topics: []Topic{{Pattern: "#", Direction: 3}}},
		{Name: "b", Address: "mqtts://h:1", TLS: &TLS{CertFile: "c"}, Topics: []Topic{{Pattern: "#"}}},
		{Name: "b", Address: "mqtt://h:1/path", Topics: []Topic{{Pattern: "#"}}},
		{Name: "b", Address: "mqtt://:1", Topics: []Topic{{Pattern: "#"}}},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: valid", c)
		}
	}
}
