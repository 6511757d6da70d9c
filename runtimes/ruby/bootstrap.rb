# frozen_string_literal: true

# nimbus Ruby runtime client: speaks the Lambda Runtime API on one keep-alive
# connection and calls the handler named by _HANDLER, as Lambda's Ruby runtime
# does (see README.md in the parent directory). Standard library only.

# The function sees its own package and Ruby's standard library, not the host's
# site_ruby/vendor_ruby folders (gems come from GEM_PATH, set by the platform).
if defined?(RbConfig)
  keep = [RbConfig::CONFIG['rubylibdir'], RbConfig::CONFIG['rubyarchdir']]
  $LOAD_PATH.select! { |p| keep.include?(p) }
end

require 'json'
require 'net/http'
require 'time'

module NimbusRuntime
  API_VERSION = '2018-06-01'

  # The handler's view of the invocation (Lambda's LambdaContext).
  class Context
    attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
                :function_name, :memory_limit_in_mb, :function_version, :identity,
                :client_context, :deadline_ms, :tenant_id

    def initialize(headers)
      @aws_request_id = headers['lambda-runtime-aws-request-id']
      @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
      @deadline_ms = headers['lambda-runtime-deadline-ms'].to_i
      @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
      @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
      @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
      @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
      @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
      @tenant_id = headers['lambda-runtime-aws-tenant-id']
      @identity = parse_json(headers['lambda-runtime-cognito-identity'])
      @client_context = parse_json(headers['lambda-runtime-client-context'])
    end

    def get_remaining_time_in_millis
      [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
    end

    private

    def parse_json(value)
      return nil if value.nil? || value.empty?

      JSON.parse(value)
    end
  end

  # An error on its way to the Runtime API, shaped as Lambda's Ruby runtime
  # reports it: errorType "Function<Class>" (or "Init<Class>" while loading).
  class Failure
    # Error classes whose names go in the error-type header; any other class
    # is reported there as UserException (its body keeps the real name).
    STANDARD = %w[
      ArgumentError ClosedQueueError EncodingError EOFError Errno FiberError FloatDomainError
      FrozenError IndexError IOError KeyError LoadError LocalJumpError NameError NoMatchingPatternError
      NoMatchingPatternKeyError NoMemoryError NoMethodError NotImplementedError RangeError RegexpError
      RuntimeError ScriptError SecurityError StandardError StopIteration SyntaxError SystemCallError
      SystemExit SystemStackError ThreadError TypeError UncaughtThrowError ZeroDivisionError
    ].freeze

    attr_reader :body, :header_type

    def initialize(error, phase)
      klass = error.class.to_s
      type = "#{phase}<#{klass}>"
      @header_type = STANDARD.include?(klass) || klass.start_with?('Errno::') ? type : "#{phase}<UserException>"
      @body = JSON.generate({ errorMessage: error.message.to_s, errorType: type, stackTrace: Failure.trace(error) })
    end

    def self.trace(error)
      locations = error.backtrace_locations || []
      lines = locations.map { |l| "#{l.path}:#{l.lineno}:in `#{l.label}'" }
      lines = error.backtrace || [] if lines.empty?
      # The runtime's own frames say nothing about the function.
      lines.reject { |l| l.start_with?(__FILE__) }
    end
  end

  # One keep-alive connection to the Runtime API; a connection the server has
  # closed while idle is opened again once.
  class Client
    def initialize(address)
      hostport, prefix = address.split('/', 2)
      host, port = split_host_port(hostport)
      @prefix = prefix ? "/#{prefix}" : ''
      @http = Net::HTTP.new(host, port)
      @http.read_timeout = nil # next waits as long as there is no work
      @http.keep_alive_timeout = 3600
      @http.start
    end

    def next_invocation
      res = request(Net::HTTP::Get.new(path('invocation/next')))
      raise "next: unexpected status #{res.code}: #{res.body}" unless res.code == '200'

      res
    end

    def respond(id, body, content_type = 'application/json')
      post("invocation/#{id}/response", body, { 'Content-Type' => content_type })
    end

    def error(id, failure)
      post("invocation/#{id}/error", failure.body, error_headers(failure))
    end

    def init_error(failure)
      post('init/error', failure.body, error_headers(failure))
    end

    private

    def error_headers(failure)
      { 'Content-Type' => 'application/json', 'Lambda-Runtime-Function-Error-Type' => failure.header_type }
    end

    def post(name, body, headers)
      req = Net::HTTP::Post.new(path(name), headers)
      req.body = body
      request(req)
    end

    def request(req)
      attempts = 0
      begin
        @http.start unless @http.started?
        @http.request(req)
      rescue EOFError, Errno::ECONNRESET, Errno::EPIPE, IOError
        attempts += 1
        raise if attempts > 1

        @http.finish if @http.started?
        retry
      end
    end

    def path(name)
      "#{@prefix}/#{API_VERSION}/runtime/#{name}"
    end

    def split_host_port(hostport)
      if hostport.start_with?('[')
        host, port = hostport[1..].split(']:', 2)
        return [host, port.to_i]
      end
      host, _, port = hostport.rpartition(':')
      [host, port.to_i]
    end
  end

  # The function's handler: "file.method" or "file.Module::Class.method".
  class Handler
    def initialize(spec, task_root)
      parts = spec.to_s.split('.')
      unless [2, 3].include?(parts.size) && parts.none?(&:empty?)
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD " \
                             'where FILENAME corresponds with an existing Ruby source file FILENAME.rb, CLASS is an ' \
                             'optional module/class namespace and METHOD is a callable method. If using CLASS, ' \
                             'METHOD must be a class-level method.'
      end
      @file = parts[0]
      @method = parts[-1].to_sym
      @class_name = parts.size == 3 ? parts[1] : nil
      require File.expand_path(@file, task_root)
      @receiver = @class_name ? Object.const_get(@class_name) : TOPLEVEL_BINDING.receiver
    end

    def call(event, context)
      # Top-level methods are private to main: send reaches them.
      @receiver.__send__(@method, event: event, context: context)
    end
  end

  def self.log_error(message, failure)
    $stdout.puts("#{message}: #{failure.body}")
  end

  def self.marshal(result)
    if result.is_a?(IO) || (defined?(StringIO) && result.is_a?(StringIO))
      [result.read, 'application/unknown']
    else
      [result.to_json, 'application/json']
    end
  end

  def self.run
    $stdout.sync = true
    $stderr.sync = true
    api = ENV.fetch('AWS_LAMBDA_RUNTIME_API')
    task_root = ENV['LAMBDA_TASK_ROOT'] || Dir.pwd
    $LOAD_PATH.unshift(task_root) unless $LOAD_PATH.include?(task_root)
    client = Client.new(api)
    handler = begin
      Handler.new(ENV['_HANDLER'], task_root)
    rescue Exception => e # rubocop:disable Lint/RescueException -- a LoadError or SyntaxError too
      failure = Failure.new(e, 'Init')
      log_error('Init error when loading handler', failure)
      client.init_error(failure)
      exit!(1)
    end
    loop do
      res = client.next_invocation
      headers = res.each_header.to_h
      id = headers['lambda-runtime-aws-request-id']
      if (trace = headers['lambda-runtime-trace-id'])
        ENV['_X_AMZN_TRACE_ID'] = trace
      else
        ENV.delete('_X_AMZN_TRACE_ID')
      end
      begin
        event = JSON.parse(res.body.to_s)
        context = Context.new(headers)
        body, type = marshal(handler.call(event, context))
        client.respond(id, body, type)
      rescue Exception => e # rubocop:disable Lint/RescueException -- every failure is the function's
        failure = Failure.new(e, 'Function')
        log_error('Error raised from handler method', failure)
        client.error(id, failure)
        # As in Lambda, an instance whose handler called a missing method or
        # raised beyond StandardError (exit, NoMemoryError ...) is not reused.
        exit!(1) if e.is_a?(NameError) || !e.is_a?(StandardError)
      end
    end
  end
end

NimbusRuntime.run if $PROGRAM_NAME == __FILE__
