// Package harness is the side-by-side performance harness of xmppkit
// (issue 9). It measures, over loopback TCP:
//
//   - an echo component (XEP-0114) written with xmppkit, mellium.im/xmpp,
//     gosrc.io/xmpp and a parser-less raw ceiling, against a fake server
//     (Server, Peer.Flood) that floods chat messages and checks every echo;
//   - component-to-component forwarding through xmppkit's router, over
//     XEP-0114 and attached in-process, against a plain TCP relay
//     (Forward, Inproc);
//   - the memory of idle component connections on the router
//     (MeasureIdle).
//
// MeasureEcho and MeasureForward run the measured side in a child process
// (the calling binary re-executed with ChildFlag, which must call
// RunChild), so that heap allocations, CPU time and peak RSS are its own.
// WriteTable and WriteSVG report medians over rounds. The same paths are
// go test benchmarks (BenchmarkEcho, BenchmarkRouter). cmd/xmppbench is
// the command that runs it all (make bench).
package harness
