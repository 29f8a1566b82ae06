// go-fanout: the fan-out benchmark with grpc-go as the load generator, the
// client the comparison table was measured with (chat-bench's
// grpc-swift client takes about 17 µs of CPU per delivery and limits every
// flood it drives).
//
// MEMBERS guests connect over CONNECTIONS connections (round robin) and join
// one group; SENDERS of them send to it, each keeping IN-FLIGHT calls in
// flight (or together RATE messages per second); every member counts and
// times every message. Server CPU is read from /proc/PID/stat from the
// first send until the last delivery arrives. With -direct, members pair
// off and every one sends its partner direct messages instead (each one
// delivered twice: to the partner and back to its sender).
//
//	scripts/go-fanout.sh -addr 127.0.0.1:PORT -pid PID [-members 1000] [-connections 1000]
//	  [-senders 4] [-in-flight 1] [-rate 0] [-duration 10] [-bytes 64] [-direct]
//
// Built offline against Debian's golang-google-grpc-dev (GOPATH mode), as
// the interop test's client is; protobuf bytes are written and read by hand.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
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

// field returns the bytes of the first length-delimited field `want` of a message.
func field(msg []byte, want int) ([]byte, bool) {
	for len(msg) > 0 {
		tag, n := uvarint(msg)
		if n < 0 {
			return nil, false
		}
		msg = msg[n:]
		number, wire := int(tag>>3), tag&7
		switch wire {
		case 0:
			_, m := uvarint(msg)
			if m < 0 {
				return nil, false
			}
			msg = msg[m:]
		case 2:
			length, m := uvarint(msg)
			if m < 0 || uint64(len(msg)-m) < length {
				return nil, false
			}
			if number == want {
				return msg[m : m+int(length)], true
			}
			msg = msg[m+int(length):]
		case 1:
			msg = msg[8:]
		case 5:
			msg = msg[4:]
		default:
			return nil, false
		}
	}
	return nil, false
}

func str(number int, s string) []byte {
	b := []byte{byte(number<<3 | 2)}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

func rssKiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			value, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return value
		}
	}
	return 0
}

func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i]) / 1e6
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "the server")
	pid := flag.Int("pid", 0, "the server's process id (for its CPU)")
	members := flag.Int("members", 1000, "members of the group")
	connections := flag.Int("connections", 0, "connections the members share (0: one each)")
	senders := flag.Int("senders", 4, "members that send")
	inFlight := flag.Int("in-flight", 1, "calls each sender keeps in flight when flooding")
	rate := flag.Float64("rate", 0, "messages per second from all senders (0: flood)")
	duration := flag.Float64("duration", 10, "seconds of sending")
	size := flag.Int("bytes", 64, "message text bytes (at least 20)")
	hold := flag.Float64("hold", 0, "with -senders 0: seconds the sessions stay idle before the server's RSS is read")
	direct := flag.Bool("direct", false, "members pair off and each sends its partner direct messages (-senders: all)")
	flag.Parse()
	if *direct {
		*members += *members % 2
		*senders = *members
	}
	if *connections <= 0 {
		*connections = *members
	}
	run := strconv.FormatInt(time.Now().UnixNano()%1000000, 36)
	group := "gf" + run
	exit := func(format string, args ...interface{}) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}

	// Before dialing: grpc-go connects in the background once dialed.
	rssBefore := rssKiB(*pid)
	cpuBefore := cpuSeconds(*pid)
	dialStart := time.Now()
	conns := make([]*grpc.ClientConn, *connections)
	for i := range conns {
		conn, err := grpc.Dial(*addr, grpc.WithInsecure())
		if err != nil {
			exit("dial: %v", err)
		}
		conns[i] = conn
	}
	names := make([]string, *members)
	for i := range names {
		names[i] = fmt.Sprintf("gf%s-%d", run, i)
	}
	call := func(i int, method string, request []byte) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", names[i])
		var response []byte
		return conns[i%len(conns)].Invoke(ctx, "/chat.v1.ChatService/"+method, &request, &response, grpc.ForceCodec(rawCodec{}))
	}

	// Connect every member; each counts and times Message events.
	var delivered int64
	latencies := make([][]int64, *members)
	welcomed := make(chan int, *members)
	ended := make(chan string, *members)
	start := dialStart
	for i := 0; i < *members; i++ {
		go func(i int) {
			stream, err := conns[i%len(conns)].NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true},
				"/chat.v1.ChatService/Connect", grpc.ForceCodec(rawCodec{}))
			if err == nil {
				request := str(1, names[i])
				err = stream.SendMsg(&request)
			}
			if err == nil {
				err = stream.CloseSend()
			}
			if err != nil {
				ended <- err.Error()
				return
			}
			var event []byte
			for {
				if err := stream.RecvMsg(&event); err != nil {
					ended <- fmt.Sprintf("%s: %v", names[i], err)
					return
				}
				if _, ok := field(event, 2); ok {
					welcomed <- i
					continue
				}
				message, ok := field(event, 3)
				if !ok {
					continue
				}
				text, ok := field(message, 4)
				if !ok || len(text) < 19 {
					continue
				}
				sent, _ := strconv.ParseInt(string(text[:19]), 10, 64)
				latencies[i] = append(latencies[i], time.Now().UnixNano()-sent)
				atomic.AddInt64(&delivered, 1)
			}
		}(i)
	}
	for n := 0; n < *members; n++ {
		select {
		case <-welcomed:
		case reason := <-ended:
			exit("a session ended while connecting: %s", reason)
		case <-time.After(120 * time.Second):
			exit("connect timed out")
		}
	}
	connectSeconds := time.Since(start).Seconds()
	if *senders == 0 {
		connectCPU := cpuSeconds(*pid) - cpuBefore
		time.Sleep(time.Duration(*hold * float64(time.Second)))
		rss := rssKiB(*pid)
		fmt.Printf("parameters       members=%d connections=%d hold=%gs\n", *members, *connections, *hold)
		fmt.Printf("connect          %d sessions in %.3f s, server cpu %.3f s (%.1f µs/session)\n",
			*members, connectSeconds, connectCPU, connectCPU/float64(*members)*1e6)
		fmt.Printf("server rss       %.1f → %.1f MiB, %.2f KiB/session\n", rssBefore/1024, rss/1024, (rss-rssBefore)/float64(*members))
		select {
		case reason := <-ended:
			fmt.Printf("sessions ended   %s\n", reason)
		default:
		}
		return
	}

	if !*direct {
		if err := call(0, "CreateGroupChat", str(1, group)); err != nil {
			exit("create: %v", err)
		}
	}
	var joinErr atomic.Value
	var wg sync.WaitGroup
	gate := make(chan struct{}, 100)
	for i := 1; i < *members && !*direct; i++ {
		wg.Add(1)
		gate <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-gate }()
			if err := call(i, "JoinGroupChat", str(1, group)); err != nil {
				joinErr.Store(err.Error())
			}
		}(i)
	}
	wg.Wait()
	if reason := joinErr.Load(); reason != nil {
		exit("join: %v", reason)
	}

	// Send: every call's text starts with its send time in ns.
	padding := strings.Repeat("x", *size-19)
	// Channel{name, type}: the group (type 2), or the sender's partner (type 1).
	channels := make([][]byte, *senders)
	for i := range channels {
		name, kind := group, byte(2)
		if *direct {
			name, kind = names[i^1], 1
		}
		inner := append(str(1, name), 2<<3, kind)
		channels[i] = append([]byte{1<<3 | 2, byte(len(inner))}, inner...)
	}
	var sent, sendErrors int64
	serverStart := cpuSeconds(*pid)
	sendStart := time.Now()
	deadline := sendStart.Add(time.Duration(*duration * float64(time.Second)))
	send := func(i int) {
		text := fmt.Sprintf("%019d%s", time.Now().UnixNano(), padding)
		request := append(append([]byte{}, channels[i]...), str(2, text)...)
		if err := call(i, "SendMessage", request); err != nil {
			atomic.AddInt64(&sendErrors, 1)
			return
		}
		atomic.AddInt64(&sent, 1)
	}
	// Every call, so that the count of sent messages is final before the drain.
	var senderGroup sync.WaitGroup
	if *rate > 0 {
		interval := time.Duration(float64(*senders) / *rate * float64(time.Second))
		for s := 0; s < *senders; s++ {
			senderGroup.Add(1)
			go func(s int) {
				defer senderGroup.Done()
				next := sendStart.Add(interval * time.Duration(s) / time.Duration(*senders))
				for next.Before(deadline) {
					time.Sleep(time.Until(next))
					senderGroup.Add(1)
					go func() {
						defer senderGroup.Done()
						send(s)
					}()
					next = next.Add(interval)
				}
			}(s)
		}
	} else {
		for s := 0; s < *senders; s++ {
			for k := 0; k < *inFlight; k++ {
				senderGroup.Add(1)
				go func(s int) {
					defer senderGroup.Done()
					for time.Now().Before(deadline) {
						send(s)
					}
				}(s)
			}
		}
	}
	senderGroup.Wait()
	sendSeconds := time.Since(sendStart).Seconds()
	// Wait (bounded) for every delivery.
	perMessage := int64(*members)
	if *direct {
		perMessage = 2
	}
	expected := atomic.LoadInt64(&sent) * perMessage
	drainDeadline := time.Now().Add(10 * time.Second)
	for atomic.LoadInt64(&delivered) < expected && time.Now().Before(drainDeadline) {
		time.Sleep(time.Millisecond)
	}
	total := time.Since(sendStart).Seconds()
	serverCPU := cpuSeconds(*pid) - serverStart
	got := atomic.LoadInt64(&delivered)

	var all []int64
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	select {
	case reason := <-ended:
		fmt.Printf("sessions ended   %s\n", reason)
	default:
	}
	fmt.Printf("parameters       members=%d connections=%d senders=%d in-flight=%d rate=%g duration=%gs bytes=%d direct=%t\n",
		*members, *connections, *senders, *inFlight, *rate, *duration, *size, *direct)
	fmt.Printf("connect          %d sessions in %.3f s\n", *members, connectSeconds)
	fmt.Printf("messages sent    %d (%.1f/s over %.2f s), %d send errors\n", sent, float64(sent)/sendSeconds, sendSeconds, sendErrors)
	fmt.Printf("deliveries       %d of %d, lost %d\n", got, expected, expected-got)
	fmt.Printf("latency ms       p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
		percentile(all, 0.5), percentile(all, 0.9), percentile(all, 0.99), percentile(all, 1))
	if got > 0 {
		fmt.Printf("server           cpu %.3f s (%.2f cores), %.3f µs/delivery\n", serverCPU, serverCPU/total, serverCPU/float64(got)*1e6)
	}
	self := cpuSeconds(os.Getpid())
	fmt.Printf("generator        cpu %.3f s in all\n", self)
	for _, conn := range conns {
		conn.Close()
	}
}
