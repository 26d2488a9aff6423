package interop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The user's story, end to end with the real binary: "mast serve -v" in one
// terminal, "mosquitto_sub -t 'house/#' -v" in another, and the Python
// scripts from examples/python in a third. Each program's output is
// checked as the person at that terminal would read it.
func TestPythonStory(t *testing.T) {
	subBin := tool(t, "mosquitto_sub")
	requirePythonPaho(t)
	examples, err := filepath.Abs("../../examples/python")
	if err != nil {
		t.Fatal(err)
	}
	m := startMast(t)
	con := m.console

	watcher := start(t, subBin, "-h", m.host(), "-p", m.port(), "-i", "house-watcher", "-t", "house/#", "-v", "-C", "2")
	con.waitFor(t, "Sending SUBACK to house-watcher")

	// first_message.py, with the broker's address as arguments.
	out := run(t, python, filepath.Join(examples, "first_message.py"), m.host(), m.port())
	containsLines(t, "first_message.py", out,
		"connecting to broker "+m.host()+" "+m.port(),
		// paho's own log (on_log): what it sent and got.
		"log: Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60)",
		"log: Received CONNACK (0, 0)",
		"connected with result code 0",
		"subscribing to topic house/sensor1",
		"publishing message to topic house/sensor1",
		"log: Received PUBLISH (d0, q0, r0, m0), 'house/sensor1', ...",
		"message received: my first message",
		"message topic: house/sensor1",
		"message qos: 0",
		"message retain flag: 0",
		"log: Sending DISCONNECT",
		"disconnected with result code 0",
	)

	// The console tells the same story, in order, in mosquitto -v's words.
	consoleInOrder(t, con,
		`^\d+: New connection from 127\.0\.0\.1:\d+ on port `+m.port()+`\.$`,
		`^\d+: New client connected from 127\.0\.0\.1:\d+ as python1 \(p2, c1, k60\)\.$`,
		`^\d+: No will message specified\.$`,
		`^\d+: Sending CONNACK to python1 \(0, 0\)$`,
		`^\d+: Received SUBSCRIBE from python1$`,
		`^\d+: \thouse/sensor1 \(QoS 0\)$`,
		`^\d+: Sending SUBACK to python1$`,
		`^\d+: Received PUBLISH from python1 \(d0, q0, r0, m0, 'house/sensor1', \.\.\. \(16 bytes\)\)$`,
		`^\d+: Sending PUBLISH to python1 \(d0, q0, r0, m0, 'house/sensor1', \.\.\. \(16 bytes\)\)$`,
		`^\d+: Received DISCONNECT from python1$`,
		`^\d+: Client python1 disconnected\.$`,
	)
	con.waitFor(t, "Sending PUBLISH to house-watcher (d0, q0, r0, m0, 'house/sensor1', ... (16 bytes))")

	// light_switch.py, with the address from the environment.
	cmd := exec.Command(python, filepath.Join(examples, "light_switch.py"))
	cmd.Env = append(os.Environ(), "MQTT_HOST="+m.host(), "MQTT_PORT="+m.port())
	out = startCmd(t, cmd).wait(t)
	containsLines(t, "light_switch.py", out,
		"connecting to broker "+m.host()+" "+m.port(),
		"connected OK",
		"published off to house/main-light",
		"disconnected with result code 0",
	)
	consoleInOrder(t, con,
		`^\d+: New client connected from 127\.0\.0\.1:\d+ as light-switch \(p2, c1, k60\)\.$`,
		`^\d+: Sending CONNACK to light-switch \(0, 0\)$`,
		`^\d+: Received PUBLISH from light-switch \(d0, q0, r0, m0, 'house/main-light', \.\.\. \(3 bytes\)\)$`,
		`^\d+: Received DISCONNECT from light-switch$`,
		`^\d+: Client light-switch disconnected\.$`,
	)

	// The watcher saw both messages, as "topic payload", and left after
	// two (-C 2).
	if got, want := watcher.wait(t), "house/sensor1 my first message\nhouse/main-light off\n"; got != want {
		t.Errorf("mosquitto_sub -t 'house/#' -v printed:\n%s\nwant:\n%s", got, want)
	}
	con.waitFor(t, "Sending PUBLISH to house-watcher (d0, q0, r0, m0, 'house/main-light', ... (3 bytes))")
	con.waitFor(t, "Client house-watcher disconnected.")
}

// containsLines fails unless each want starts a line of out, in order.
func containsLines(t *testing.T, who, out string, want ...string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("%s printed:\n%s\nmissing (in this order) the line %q", who, out, want[i])
	}
}

// consoleInOrder waits until the console has lines matching each pattern,
// in that order; other lines may come between.
func consoleInOrder(t *testing.T, con *console, patterns ...string) {
	t.Helper()
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		res[i] = regexp.MustCompile(p)
	}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		lines, changed := con.snapshot()
		i := 0
		for _, l := range lines {
			if i < len(res) && res[i].MatchString(l) {
				i++
			}
		}
		if i == len(res) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("console has no line matching %q after the earlier ones; console:\n%s",
				patterns[i], strings.Join(lines, "\n"))
		}
	}
}
