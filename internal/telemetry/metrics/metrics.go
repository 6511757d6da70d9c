// Package metrics exports the platform's Prometheus metrics and meters
// GB-seconds, as Lambda bills: billed duration (1 ms steps) times memory size.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nimbus-platform/nimbus/internal/runtime"
)

// Metrics implements runtime.Observer.
type Metrics struct {
	Registry    *prometheus.Registry
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	coldStarts  *prometheus.CounterVec
	initDur     *prometheus.HistogramVec
	throttles   *prometheus.CounterVec
	instances   *prometheus.GaugeVec
	billedMS    *prometheus.CounterVec
	gbSeconds   *prometheus.CounterVec
	maxMemory   *prometheus.GaugeVec
}

// New registers the platform's metrics in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_invocations_total", Help: "Invocations that reached a function instance.",
		}, []string{"function"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_invocation_errors_total", Help: "Invocations that ended in a function error, by error type.",
		}, []string{"function", "type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nimbus_invocation_duration_seconds", Help: "Time from handing an invocation to the runtime to its answer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_cold_starts_total", Help: "Invocations that started a new instance.",
		}, []string{"function"}),
		initDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nimbus_init_duration_seconds", Help: "Time from starting an instance to its runtime's first request for work.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"function"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_throttles_total", Help: "Invocations refused for lack of concurrency.",
		}, []string{"function", "reason"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nimbus_instances", Help: "Function instances running (idle or busy).",
		}, []string{"function"}),
		billedMS: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_billed_milliseconds_total", Help: "Billed duration, rounded up to 1 ms per invocation.",
		}, []string{"function"}),
		gbSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nimbus_billed_gb_seconds_total", Help: "Billed duration times configured memory, in GB-seconds.",
		}, []string{"function", "memory_mb"}),
		maxMemory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nimbus_max_memory_used_megabytes", Help: "Peak memory of the last instance that reported, per function.",
		}, []string{"function"}),
	}
	m.Registry.MustRegister(m.invocations, m.errors, m.duration, m.coldStarts, m.initDur, m.throttles,
		m.instances, m.billedMS, m.gbSeconds, m.maxMemory,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Invoked records one finished invocation.
func (m *Metrics) Invoked(spec *runtime.Spec, res *runtime.Result, maxMemoryMB int) {
	fn := spec.FunctionName
	m.invocations.WithLabelValues(fn).Inc()
	if res.FunctionError != "" {
		m.errors.WithLabelValues(fn, res.ErrorType).Inc()
	}
	m.duration.WithLabelValues(fn).Observe(res.Duration.Seconds())
	if res.ColdStart {
		m.coldStarts.WithLabelValues(fn).Inc()
		m.initDur.WithLabelValues(fn).Observe(res.InitDuration.Seconds())
	}
	billed := runtime.BilledMS(res.Duration)
	m.billedMS.WithLabelValues(fn).Add(float64(billed))
	m.gbSeconds.WithLabelValues(fn, strconv.Itoa(spec.MemoryMB)).Add(float64(billed) / 1000 * float64(spec.MemoryMB) / 1024)
	m.maxMemory.WithLabelValues(fn).Set(float64(maxMemoryMB))
}

// Throttled records a refused invocation.
func (m *Metrics) Throttled(spec *runtime.Spec, reason string) {
	m.throttles.WithLabelValues(spec.FunctionName, reason).Inc()
}

// InstanceStarted counts a new instance.
func (m *Metrics) InstanceStarted(spec *runtime.Spec) {
	m.instances.WithLabelValues(spec.FunctionName).Inc()
}

// InstanceStopped counts an instance gone.
func (m *Metrics) InstanceStopped(spec *runtime.Spec) {
	m.instances.WithLabelValues(spec.FunctionName).Dec()
}
