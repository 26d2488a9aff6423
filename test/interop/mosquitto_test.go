package interop_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
)

// mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients) against the
// in-process broker, asserting what mosquitto_sub prints.

var mosqVersions = []struct {
	flag string // mosquitto_pub/sub -V
	tag  string // protocol as the console names it
}{
	{"mqttv31", "p1"},
	{"mqttv311", "p2"},
	{"mqttv5", "p5"},
}

// mosq builds the common arguments: broker address, protocol and client id.
func mosq(b *testBroker, version, id string, args ...string) []string {
	return append([]string{"-h", b.host(), "-p", b.port(), "-V", version, "-i", id}, args...)
}

func TestMosquittoPubSub(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{})
	for _, v := range mosqVersions {
		for qos := range 3 {
			t.Run(fmt.Sprintf("%s/qos%d", v.flag, qos), func(t *testing.T) {
				t.Parallel()
				base := fmt.Sprintf("cli/%s/q%d", v.tag, qos)
				q := fmt.Sprint(qos)
				subID := fmt.Sprintf("msub-%s-q%d", v.tag, qos)
				// -C 4: exit after four messages; -v: print "topic payload".
				sub := start(t, subBin, mosq(b, v.flag, subID, "-q", q, "-t", base+"/#", "-v", "-C", "4")...)
				b.console.waitFor(t, "New client connected from 127.0.0.1:")
				b.console.waitFor(t, " as "+subID+" ("+v.tag+", c1, k60).")
				b.console.waitFor(t, "Sending SUBACK to "+subID)

				// Three lines from stdin on one connection (-l), so their
				// order is the order sent [MQTT-4.6.0-6] ...
				pubID := fmt.Sprintf("mpub-%s-q%d", v.tag, qos)
				startInput(t, "hello\nhello world\nünïcode ✓\n", pubBin, mosq(b, v.flag, pubID, "-q", q, "-t", base+"/lines", "-l")...).wait(t)
				// ... and one more from another client with -m.
				run(t, pubBin, mosq(b, v.flag, pubID+"-m", "-q", q, "-t", base+"/m", "-m", "the end")...)

				got := sub.wait(t)
				want := base + "/lines hello\n" +
					base + "/lines hello world\n" +
					base + "/lines ünïcode ✓\n" +
					base + "/m the end\n"
				if got != want {
					t.Errorf("mosquitto_sub -v printed:\n%s\nwant:\n%s", got, want)
				}
				b.console.waitFor(t, fmt.Sprintf("Received PUBLISH from %s (d0, q%d, r0, m", pubID, qos))
				b.console.waitFor(t, fmt.Sprintf("Sending PUBLISH to %s (d0, q%d, r0, m", subID, qos))
				b.console.waitFor(t, "Received DISCONNECT from "+pubID)
			})
		}
	}
}

func TestMosquittoRetained(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{})
	for _, v := range mosqVersions {
		t.Run(v.flag, func(t *testing.T) {
			t.Parallel()
			topic := "cli/" + v.tag + "/house/main-light"
			run(t, pubBin, mosq(b, v.flag, "mret-pub-"+v.tag, "-q", "1", "-r", "-t", topic, "-m", "on")...)

			// The subscriber gets it at once, flagged retained (3.1.1:
			// [MQTT-3.3.1-6] [MQTT-3.3.1-8]; 5.0: [MQTT-3.3.1-9]):
			// -F '%r %q %t %p' prints the retain flag, QoS, topic and
			// payload.
			got := run(t, subBin, mosq(b, v.flag, "mret-sub1-"+v.tag, "-q", "1", "-t", "cli/"+v.tag+"/house/#", "-F", "%r %q %t %p", "-C", "1")...)
			if want := "1 1 " + topic + " on\n"; got != want {
				t.Errorf("subscriber printed %q, want %q", got, want)
			}
			// -v prints the same message as "topic payload".
			got = run(t, subBin, mosq(b, v.flag, "mret-sub2-"+v.tag, "-t", topic, "-v", "-C", "1")...)
			if want := topic + " on\n"; got != want {
				t.Errorf("subscriber -v printed %q, want %q", got, want)
			}

			// -r -n publishes an empty retained message, which clears it
			// (3.1.1: [MQTT-3.3.1-10]; 5.0: [MQTT-3.3.1-6]): a new
			// subscriber's first message is then the live one, with
			// RETAIN 0.
			run(t, pubBin, mosq(b, v.flag, "mret-clear-"+v.tag, "-q", "1", "-r", "-n", "-t", topic)...)
			id := "mret-sub3-" + v.tag
			sub := start(t, subBin, mosq(b, v.flag, id, "-q", "1", "-t", topic, "-F", "%r %t %p", "-C", "1")...)
			b.console.waitFor(t, "Sending SUBACK to "+id)
			run(t, pubBin, mosq(b, v.flag, "mret-live-"+v.tag, "-q", "1", "-t", topic, "-m", "live")...)
			if got, want := sub.wait(t), "0 "+topic+" live\n"; got != want {
				t.Errorf("after clearing, subscriber printed %q, want %q", got, want)
			}
		})
	}
}

// A v5 publisher's properties reach a v5 subscriber as sent
// [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17]
// [MQTT-3.3.2-18] [MQTT-3.3.2-20], and a v3.1.1 subscriber gets the same
// message without them.
func TestMosquittoV5Properties(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{})
	sub5 := start(t, subBin, mosq(b, "mqttv5", "mprop-sub5", "-t", "cli/props", "-C", "1",
		"-F", "%t|%p|%C|%R|%D|%F|%P")...)
	sub3 := start(t, subBin, mosq(b, "mqttv311", "mprop-sub3", "-t", "cli/props", "-v", "-C", "1")...)
	b.console.waitFor(t, "Sending SUBACK to mprop-sub5")
	b.console.waitFor(t, "Sending SUBACK to mprop-sub3")
	run(t, pubBin, mosq(b, "mqttv5", "mprop-pub", "-q", "1", "-t", "cli/props", "-m", "21.5",
		"-D", "publish", "content-type", "text/plain",
		"-D", "publish", "response-topic", "cli/props/reply",
		"-D", "publish", "correlation-data", "req-42",
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "user-property", "room", "kitchen",
		"-D", "publish", "user-property", "unit", "celsius")...)
	if got, want := sub5.wait(t), "cli/props|21.5|text/plain|cli/props/reply|req-42|1|room:kitchen unit:celsius\n"; got != want {
		t.Errorf("v5 subscriber printed %q, want %q", got, want)
	}
	if got, want := sub3.wait(t), "cli/props 21.5\n"; got != want {
		t.Errorf("3.1.1 subscriber printed %q, want %q", got, want)
	}
}

// Subscription identifiers set with mosquitto_sub -D subscribe
// subscription-identifier come back on each message [MQTT-3.3.4-3].
func TestMosquittoSubscriptionIdentifier(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{})
	sub := start(t, subBin, mosq(b, "mqttv5", "msid-sub", "-t", "cli/sid/#", "-C", "1",
		"-D", "subscribe", "subscription-identifier", "42", "-F", "%S %t %p")...)
	b.console.waitFor(t, "Sending SUBACK to msid-sub")
	run(t, pubBin, mosq(b, "mqttv311", "msid-pub", "-t", "cli/sid/x", "-m", "y")...)
	if got, want := sub.wait(t), "42 cli/sid/x y\n"; got != want {
		t.Errorf("subscriber printed %q, want %q", got, want)
	}
}

// A client's will, set with mosquitto_sub --will-*, is published when its
// connection drops [MQTT-3.1.2-8].
func TestMosquittoWill(t *testing.T) {
	subBin := tool(t, "mosquitto_sub")
	b := startBroker(t, broker.Options{})
	for _, v := range mosqVersions {
		t.Run(v.flag, func(t *testing.T) {
			topic := "cli/" + v.tag + "/status/sensor"
			watcher := start(t, subBin, mosq(b, v.flag, "mwill-watch-"+v.tag, "-t", topic, "-v", "-C", "1")...)
			b.console.waitFor(t, "Sending SUBACK to mwill-watch-"+v.tag)
			id := "mwill-sensor-" + v.tag
			sensor := start(t, subBin, mosq(b, v.flag, id, "-t", "cli/none",
				"--will-topic", topic, "--will-payload", "sensor lost", "--will-qos", "1")...)
			b.console.waitFor(t, "Sending SUBACK to "+id)
			if !strings.Contains(b.console.waitFor(t, "Will message specified"), "(11 bytes)") {
				t.Errorf("console does not give the will's size")
			}
			sensor.cmd.Process.Kill() // no DISCONNECT: the socket just closes
			if got, want := watcher.wait(t), topic+" sensor lost\n"; got != want {
				t.Errorf("watcher printed %q, want %q", got, want)
			}
		})
	}
}

// mosquitto_sub -c keeps its session while away: QoS 1 messages published
// meanwhile are delivered when it comes back (3.1.1: [MQTT-3.1.2-4]
// [MQTT-3.1.2-5]; 5.0, where -c asks for a session that does not expire:
// [MQTT-3.1.2-23]).
func TestMosquittoPersistentSession(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{})
	for _, v := range mosqVersions {
		t.Run(v.flag, func(t *testing.T) {
			t.Parallel()
			topic := "cli/" + v.tag + "/inbox"
			id := "mpersist-" + v.tag
			sub := start(t, subBin, mosq(b, v.flag, id, "-c", "-q", "1", "-t", topic, "-v", "-C", "1")...)
			b.console.waitFor(t, " as "+id+" ("+v.tag+", c0, k60).")
			b.console.waitFor(t, "Sending SUBACK to "+id)
			run(t, pubBin, mosq(b, v.flag, "mpersist-pub1-"+v.tag, "-q", "1", "-t", topic, "-m", "while online")...)
			if got, want := sub.wait(t), topic+" while online\n"; got != want {
				t.Fatalf("first run printed %q, want %q", got, want)
			}
			b.console.waitFor(t, "Client "+id+" disconnected.")

			startInput(t, "queued 1\nqueued 2\n", pubBin, mosq(b, v.flag, "mpersist-pub2-"+v.tag, "-q", "1", "-t", topic, "-l")...).wait(t)
			// Back with the same id and -c, subscribing to something
			// else (mosquitto_sub needs a -t): the session remembered
			// the first subscription and its messages.
			got := run(t, subBin, mosq(b, v.flag, id, "-c", "-q", "1", "-t", "cli/"+v.tag+"/other", "-v", "-C", "2")...)
			if want := topic + " queued 1\n" + topic + " queued 2\n"; got != want {
				t.Errorf("resumed mosquitto_sub -c printed %q, want %q", got, want)
			}
		})
	}
}

// $SYS topics carry the broker's state under Mosquitto's names, retained;
// '#' does not match them [MQTT-4.7.2-1].
func TestMosquittoSys(t *testing.T) {
	subBin, pubBin := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b := startBroker(t, broker.Options{SysInterval: time.Second, Version: "mast 1.2.3"})
	got := run(t, subBin, mosq(b, "mqttv311", "msys-version", "-t", "$SYS/broker/version", "-v", "-C", "1")...)
	if want := "$SYS/broker/version mast 1.2.3\n"; got != want {
		t.Errorf("mosquitto_sub -t '$SYS/broker/version' -v printed %q, want %q", got, want)
	}
	sub := start(t, subBin, mosq(b, "mqttv311", "msys-all", "-t", "#", "-v", "-C", "1")...)
	b.console.waitFor(t, "Sending SUBACK to msys-all")
	run(t, pubBin, mosq(b, "mqttv311", "msys-pub", "-t", "house/sensor1", "-m", "20")...)
	if got, want := sub.wait(t), "house/sensor1 20\n"; got != want {
		t.Errorf("mosquitto_sub -t '#' printed %q first, want %q and no $SYS topic", got, want)
	}
}
