package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// mast pub: mosquitto_pub's command line on the client package. It connects,
// publishes one message (-m, -f, -n, -s; --repeat for more) or one per line
// of standard input (-l), waits until each is done for its QoS, and
// disconnects.

const pubUsage = `mast pub is a simple MQTT client that will publish a message on a single topic and exit.
It takes mosquitto_pub's flags.

Usage: mast pub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
                {-f file | -l | -n | -m message | -s}
                [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
                [-i id] [-I id_prefix] [-d] [--quiet] [-V protocol-version]
                [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                [{--cafile file | --capath dir} [--cert file] [--key file] [--insecure]]
                [-D command identifier value]
       mast pub --help

 -f : send the contents of a file as the message.
 -l : read messages from stdin, sending a separate message for each line.
 -m : message payload to send.
 -n : send a null (zero length) message.
 -r : message should be retained.
 -s : read message from stdin, sending the entire input as a message.
 --repeat : if publish mode is -f, -m, -n or -s, then repeat the publish N times.
 --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to 0.
` + mqttUsage

// pubFlag parses a flag only mast pub has.
func (f *mqttFlags) pubFlag(a string, arg func(string) (string, error)) (bool, error) {
	var v string
	var err error
	switch a {
	case "-m", "--message":
		if v, err = arg("message"); err == nil {
			err = f.setMessage("-m", []byte(v))
		}
	case "-f", "--file":
		if v, err = arg("file"); err == nil {
			b, e := os.ReadFile(v)
			if e != nil {
				return true, fileError(v)
			}
			err = f.setMessage("-f", b)
		}
	case "-l", "--stdin-line":
		err = f.setMessage("-l", nil)
	case "-n", "--null-message":
		err = f.setMessage("-n", []byte{})
	case "-s", "--stdin-file":
		err = f.setMessage("-s", nil)
	case "-r", "--retain":
		f.retain = true
	case "--repeat":
		if v, err = arg("repeat count"); err == nil {
			if f.repeat, err = strconv.Atoi(v); err != nil || f.repeat < 1 {
				err = usagef("--repeat argument must be >0.")
			}
		}
	case "--repeat-delay":
		if v, err = arg("repeat delay"); err == nil {
			d, e := strconv.ParseFloat(v, 64)
			if e != nil || d < 0 {
				err = usagef("--repeat-delay argument must be >=0.0.")
			}
			f.repeatDelay = time.Duration(d * float64(time.Second))
		}
	default:
		return false, nil
	}
	return true, err
}

func runPub(args []string, stdout, stderr io.Writer) int {
	f, err := parseMQTTFlags("pub", args)
	if err != nil {
		return reportParseError("pub", err, stdout, stderr, pubUsage)
	}
	out := &lockedWriter{w: stdout}
	opts, err := f.options(out)
	if err != nil {
		f.errorf(stderr, "%v\n", err)
		return 1
	}
	if f.msgMode == "-s" {
		if f.message, err = io.ReadAll(os.Stdin); err != nil {
			f.errorf(stderr, "Error: Problem reading stdin: %v.\n", err)
			return 1
		}
	}
	c, err := client.New(opts)
	if err != nil {
		f.errorf(stderr, "Error: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := c.Connect(ctx); err != nil {
		return f.connectFailure(err, stderr)
	}
	rc := f.publishAll(ctx, c, stderr)
	disc := &packet.Disconnect{}
	if p := f.props["disconnect"]; p != nil && f.version == packet.Version5 {
		disc.Properties = *p
	}
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.DisconnectWith(dctx, disc)
	return rc
}

// publishAll sends what the command line asks for and returns the exit
// code: 0 even when the server refused a message (mosquitto_pub warns and
// goes on), 7 when the connection is lost.
func (f *mqttFlags) publishAll(ctx context.Context, c *client.Client, stderr io.Writer) int {
	mid := 0
	publish := func(payload []byte) int {
		mid++
		m := &client.Message{Topic: f.topics[0], Payload: payload, QoS: f.qos, Retain: f.retain}
		if p := f.props["publish"]; p != nil && f.version == packet.Version5 {
			m.Properties = *p
			// Topic aliases are the client's business.
			m.Properties.Clear(packet.PropTopicAlias)
		}
		err := c.Publish(ctx, m)
		var re *client.ReasonError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &re) && re.Packet != packet.DISCONNECT:
			f.errorf(stderr, "Warning: Publish %d failed: %s.\n", mid, mosquittoReason(re.Code))
			return 0
		case errors.Is(err, client.ErrConnectionLost):
			f.errorf(stderr, "Error: The connection was lost.\n")
			return 7
		case ctx.Err() != nil:
			return 0 // interrupted
		default:
			f.errorf(stderr, "Error: %v\n", err)
			return 1
		}
	}
	if f.msgMode == "-l" {
		r := bufio.NewReaderSize(os.Stdin, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				line = bytes.TrimSuffix(line, []byte("\n"))
				if rc := publish(line); rc != 0 {
					return rc
				}
			}
			if err != nil || ctx.Err() != nil {
				return 0
			}
		}
	}
	n := max(f.repeat, 1)
	for i := range n {
		if rc := publish(f.message); rc != 0 {
			return rc
		}
		if i < n-1 && f.repeatDelay > 0 {
			select {
			case <-time.After(f.repeatDelay):
			case <-ctx.Done():
				return 0
			}
		}
		if ctx.Err() != nil {
			return 0
		}
	}
	return 0
}
