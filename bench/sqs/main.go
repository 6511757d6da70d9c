// Command sqs measures SendMessage, ReceiveMessage and DeleteMessage
// throughput through the AWS SDK for Go v2 against nimbus (durable: every
// send and delete is fsync'd before the answer) and, in the same run, against
// moto_server serving the same calls.
//
//	go run ./bench/sqs -n 3000 -clients 16
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-platform/nimbus/internal/server"
)

func main() {
	n := flag.Int("n", 3000, "messages per target")
	clients := flag.Int("clients", 16, "concurrent SDK clients")
	withMoto := flag.Bool("moto", true, "also measure moto_server")
	flag.Parse()
	work, err := os.MkdirTemp("", "nimbus-bench-sqs-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(work, "data"), Addr: "127.0.0.1:0",
		RunDir: filepath.Join(work, "run"), NoSandbox: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	fmt.Printf("machine: %d CPUs; %d messages, %d clients\n\n", runtime.NumCPU(), *n, *clients)
	fmt.Println("| target | SendMessage/s | ReceiveMessage msgs/s (batches of 10) | DeleteMessage/s |")
	fmt.Println("|---|---:|---:|---:|")
	nim := measure(srv.URL(), *n, *clients, credentials.NewStaticCredentialsProvider(srv.AdminKey.AccessKeyID, srv.AdminKey.SecretAccessKey, ""))
	fmt.Printf("| nimbus (durable, fsync) | %.0f | %.0f | %.0f |\n", nim[0], nim[1], nim[2])
	if *withMoto {
		port := freePort()
		cmd := exec.Command("moto_server", "-p", fmt.Sprint(port))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		for i := 0; ; i++ {
			if resp, err := http.Get(url + "/moto-api/"); err == nil {
				resp.Body.Close()
				break
			}
			if i > 200 {
				log.Fatal("moto_server did not start")
			}
			time.Sleep(100 * time.Millisecond)
		}
		m := measure(url, *n, *clients, credentials.NewStaticCredentialsProvider("test", "test", ""))
		fmt.Printf("| moto_server (in memory) | %.0f | %.0f | %.0f |\n", m[0], m[1], m[2])
		fmt.Printf("| nimbus / moto | %.1f× | %.1f× | %.1f× |\n", nim[0]/m[0], nim[1]/m[1], nim[2]/m[2])
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func measure(endpoint string, n, clients int, creds aws.CredentialsProvider) [3]float64 {
	ctx := context.Background()
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: creds,
		HTTPClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}})
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprint("bench", time.Now().UnixNano()))})
	if err != nil {
		log.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"order":12345,"item":"widget"}`)}); err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	send := float64(n) / time.Since(start).Seconds()

	var received atomic.Int64
	handles := make(chan string, n)
	start = time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for received.Load() < int64(n) {
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300, WaitTimeSeconds: 1})
				if err != nil {
					log.Fatal(err)
				}
				for _, m := range out.Messages {
					handles <- *m.ReceiptHandle
				}
				received.Add(int64(len(out.Messages)))
			}
		}()
	}
	wg.Wait()
	recv := float64(received.Load()) / time.Since(start).Seconds()
	close(handles)
	start = time.Now()
	var deleted atomic.Int64
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range handles {
				if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: aws.String(h)}); err != nil {
					log.Fatal(err)
				}
				deleted.Add(1)
			}
		}()
	}
	wg.Wait()
	del := float64(deleted.Load()) / time.Since(start).Seconds()
	_ = types.QueueAttributeNameAll
	return [3]float64{send, recv, del}
}
