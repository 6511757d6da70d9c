package httpguard

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// limitListener caps the open connections of each client: an IP address,
// and past its cap, what clientOf makes of it.
type limitListener struct {
	net.Listener
	max      int // negative: no cap
	mu       sync.Mutex
	perIP    map[string]int
	refused  func(ip string, open int)
	clientOf func(c net.Conn, ip string) string
	total    bool // one cap for every client together
}

// CapConnections caps the connections ln holds open at once, whoever makes
// them: past max, a new one is answered 429 and closed. It keeps a listener
// the public reaches from taking the descriptors the rest of the process
// needs. refused, if set, hears of each refusal.
func CapConnections(ln net.Listener, max int, refused func(open int)) net.Listener {
	return &limitListener{Listener: ln, max: max, perIP: map[string]int{}, total: true,
		refused: func(_ string, open int) {
			if refused != nil {
				refused(open)
			}
		}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.max < 0 {
			return c, err
		}
		ip := ""
		if !l.total {
			ip = clientIP(c)
		}
		l.mu.Lock()
		open := l.perIP[ip]
		if open >= l.max && l.clientOf != nil {
			// Only an address at its cap is told apart further (naming a
			// client may cost a scan of the host's socket table): past its
			// first max connections, each client it names has max of its own.
			l.mu.Unlock()
			ip = l.clientOf(c, ip)
			l.mu.Lock()
			open = l.perIP[ip]
		}
		if open >= l.max {
			l.mu.Unlock()
			l.refused(ip, open)
			rejectConn(c)
			continue
		}
		l.perIP[ip] = open + 1
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	if l.perIP[ip] <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip]--
	}
	l.mu.Unlock()
}

func clientIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// tooManyConnsBody answers a refused connection: Lambda's throttle, which
// SDKs retry with backoff.
const tooManyConnsBody = `{"code":"TooManyRequestsException","message":"too many open connections from this client"}`

// rejectConn answers and closes a connection over the cap. The write goes
// into a fresh socket's buffer; the short deadline keeps a full one from
// holding the accept loop.
func rejectConn(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"+
		"X-Amzn-ErrorType: TooManyRequestsException\r\nRetry-After: 1\r\nConnection: close\r\n"+
		"Content-Length: %d\r\n\r\n%s", len(tooManyConnsBody), tooManyConnsBody)
	_ = c.Close()
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// ReadFrom keeps the socket's ReadFrom reachable, so net/http sends file
// bodies (object GETs) with sendfile.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
