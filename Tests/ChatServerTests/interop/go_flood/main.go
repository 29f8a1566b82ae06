// A grpc-go client holds a Connect stream through a fixed-rate flood.
//
// Usage: go_flood ADDR USERNAME COUNT SECONDS. Dials ADDR with grpc-go's
// default options (BDP pings on), opens chat.v1.ChatService/Connect as
// USERNAME, prints `welcomed` once Welcome arrives, then counts Message
// events until COUNT have arrived, the stream ends, or SECONDS pass, and
// prints `result received=N ended=no|CODE:message|timeout`.
//
// The Swift test (GoInteropTests) builds it offline against Debian's
// golang-google-grpc-dev (GO111MODULE=off, GOPATH=/usr/share/gocode) and
// drives the flood. Protobuf bytes are written and read by hand with a
// pass-through codec, so nothing is generated from chat.proto.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rawCodec passes message bytes through: requests are encoded by hand and
// events are read field by field. Its name keeps content-type
// application/grpc+proto on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func uvarint(b []byte) (uint64, int) {
	var value uint64
	for i := 0; i < len(b) && i < 10; i++ {
		value |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return value, i + 1
		}
	}
	return 0, -1
}

// kind returns the field number of the Event's oneof (2 Welcome, 3 Message, ...), or 0.
func kind(event []byte) int {
	for len(event) > 0 {
		tag, n := uvarint(event)
		if n < 0 {
			return 0
		}
		event = event[n:]
		field, wire := int(tag>>3), tag&7
		if field >= 2 && field <= 7 {
			return field
		}
		switch wire {
		case 0:
			_, m := uvarint(event)
			if m < 0 {
				return 0
			}
			event = event[m:]
		case 2:
			length, m := uvarint(event)
			if m < 0 || uint64(len(event)-m) < length {
				return 0
			}
			event = event[m+int(length):]
		case 1:
			event = event[8:]
		case 5:
			event = event[4:]
		default:
			return 0
		}
	}
	return 0
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go_flood ADDR USERNAME COUNT SECONDS")
		os.Exit(2)
	}
	addr, username := os.Args[1], os.Args[2]
	count, _ := strconv.Atoi(os.Args[3])
	seconds, _ := strconv.Atoi(os.Args[4])

	conn, err := grpc.Dial(addr, grpc.WithInsecure())
	if err != nil {
		fmt.Printf("result received=0 ended=dial:%v\n", err)
		os.Exit(1)
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true},
		"/chat.v1.ChatService/Connect", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		fmt.Printf("result received=0 ended=%v\n", err)
		os.Exit(1)
	}
	// ConnectRequest{username: USERNAME}
	request := append([]byte{1<<3 | 2, byte(len(username))}, username...)
	if err := stream.SendMsg(&request); err != nil {
		fmt.Printf("result received=0 ended=send:%v\n", err)
		os.Exit(1)
	}
	if err := stream.CloseSend(); err != nil {
		fmt.Printf("result received=0 ended=closesend:%v\n", err)
		os.Exit(1)
	}

	type outcome struct {
		received int
		ended    string
	}
	done := make(chan outcome, 1)
	var counted int64
	go func() {
		received := 0
		for {
			var event []byte
			if err := stream.RecvMsg(&event); err != nil {
				st := status.Convert(err)
				done <- outcome{received, fmt.Sprintf("%s:%s", st.Code(), st.Message())}
				return
			}
			switch kind(event) {
			case 2:
				fmt.Println("welcomed")
			case 3:
				received++
				atomic.StoreInt64(&counted, int64(received))
				if received >= count {
					done <- outcome{received, "no"}
					return
				}
			}
		}
	}()

	select {
	case result := <-done:
		fmt.Printf("result received=%d ended=%s\n", result.received, result.ended)
	case <-time.After(time.Duration(seconds) * time.Second):
		fmt.Printf("result received=%d ended=timeout\n", atomic.LoadInt64(&counted))
		os.Exit(1)
	}
}
