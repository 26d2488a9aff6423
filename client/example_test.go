package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// startExampleBroker starts the broker the examples talk to; outside an
// example it is "mast serve" on localhost:1883.
func startExampleBroker() (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	return "mqtt://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
}

// The tutorial's story: create a client with an id and callbacks, connect
// and wait until connected, subscribe, publish, receive your own message,
// disconnect.
func Example() {
	server, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()

	received := make(chan *client.Message, 1)
	c, err := client.New(client.Options{
		Servers:  []string{server},
		ClientID: "python1",
		OnConnect: func(c *client.Client, ack *packet.Connack) {
			fmt.Println("connected, session present:", ack.SessionPresent)
		},
		OnMessage: func(c *client.Client, m *client.Message) {
			fmt.Printf("message received: %s %s (QoS %d)\n", m.Topic, m.Payload, m.QoS)
			received <- m
		},
	})
	if err != nil {
		panic(err)
	}
	// Connect returns once the server has accepted the connection.
	if _, err := c.Connect(ctx); err != nil {
		panic(err)
	}
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "house/#", QoS: 1}); err != nil {
		panic(err)
	}
	// Publish returns once the server has acknowledged the QoS 1 message.
	if err := c.Publish(ctx, &client.Message{Topic: "house/main-light", Payload: []byte("OFF"), QoS: 1}); err != nil {
		panic(err)
	}
	<-received
	if err := c.Disconnect(ctx); err != nil {
		panic(err)
	}
	fmt.Println("disconnected")
	// Output:
	// connected, session present: false
	// message received: house/main-light OFF (QoS 1)
	// disconnected
}

// Per-filter handlers: each message goes to the handler of the filters it
// matches, and to OnMessage when it matches none.
func ExampleClient_Subscribe() {
	server, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()

	done := make(chan struct{})
	c, _ := client.New(client.Options{
		Servers: []string{server},
		OnMessage: func(c *client.Client, m *client.Message) {
			fmt.Println("default handler:", m.Topic)
			close(done)
		},
	})
	if _, err := c.Connect(ctx); err != nil {
		panic(err)
	}
	defer c.Disconnect(ctx)

	sensors := func(c *client.Client, m *client.Message) {
		fmt.Printf("sensor %s says %s\n", m.Topic, m.Payload)
	}
	suback, err := c.Subscribe(ctx, sensors,
		packet.Subscription{Filter: "house/+/temperature", QoS: 1},
		packet.Subscription{Filter: "garden/#", QoS: 0})
	if err != nil {
		panic(err)
	}
	fmt.Println("granted:", suback.ReasonCodes)
	// A subscription without a handler of its own uses OnMessage.
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "alarm"}); err != nil {
		panic(err)
	}

	c.Publish(ctx, &client.Message{Topic: "house/kitchen/temperature", Payload: []byte("21.5"), QoS: 1})
	c.Publish(ctx, &client.Message{Topic: "garden/rain", Payload: []byte("0mm")})
	c.Publish(ctx, &client.Message{Topic: "alarm", Payload: []byte("!")})
	<-done
	// Output:
	// granted: [1 0]
	// sensor house/kitchen/temperature says 21.5
	// sensor garden/rain says 0mm
	// default handler: alarm
}

// The Logger hook prints what Paho's on_log prints; "mast sub -d" shows the
// same lines.
func ExampleOptions_logger() {
	server, stop := startExampleBroker()
	defer stop()
	ctx := context.Background()

	got := make(chan struct{})
	c, _ := client.New(client.Options{
		Servers:    []string{server},
		ClientID:   "python1",
		Version:    4, // MQTT 3.1.1, Paho's default
		CleanStart: true,
		Logger:     func(line string) { fmt.Println(line) },
		OnMessage:  func(*client.Client, *client.Message) { close(got) },
	})
	c.Connect(ctx)
	c.Subscribe(ctx, nil, packet.Subscription{Filter: "house/sensor1"})
	c.Publish(ctx, &client.Message{Topic: "house/sensor1", Payload: []byte("temperature 21.5")})
	<-got
	c.Disconnect(ctx)
	// Output:
	// Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60) client_id=b'python1'
	// Received CONNACK (0, 0)
	// Sending SUBSCRIBE (d0, m1) [(b'house/sensor1', 0)]
	// Received SUBACK
	// Sending PUBLISH (d0, q0, r0, m0), 'house/sensor1', ... (16 bytes)
	// Received PUBLISH (d0, q0, r0, m0), 'house/sensor1', ...  (16 bytes)
	// Sending DISCONNECT
}

// Callbacks tell the application about the connection: OnConnect after each
// connect, OnConnectionLost when it drops, OnReconnecting before each new
// attempt. Here the broker goes away and comes back on the same address.
func ExampleOptions_callbacks() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)

	connected := make(chan struct{}, 2)
	c, _ := client.New(client.Options{
		Servers:       []string{"mqtt://" + addr},
		ClientID:      "python1",
		AutoReconnect: true,
		MinBackoff:    50 * time.Millisecond,
		OnConnect: func(c *client.Client, ack *packet.Connack) {
			fmt.Println("on_connect")
			connected <- struct{}{}
		},
		OnConnectionLost: func(c *client.Client, err error) {
			fmt.Println("on_disconnect, connection lost:", errors.Is(err, client.ErrConnectionLost))
		},
		OnReconnecting: func(c *client.Client, attempt int) {
			if attempt == 1 {
				fmt.Println("reconnecting")
			}
		},
	})
	ctx := context.Background()
	c.Connect(ctx)
	<-connected

	// The broker stops, and a new one starts on the same address.
	srv.Shutdown(ctx)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	srv = broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)

	<-connected
	c.Disconnect(ctx)
	// Output:
	// on_connect
	// on_disconnect, connection lost: true
	// reconnecting
	// on_connect
}
