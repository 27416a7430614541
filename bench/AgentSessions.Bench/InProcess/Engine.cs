using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Sessions;
using AgentSessions.Testing;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The real session orchestration and activities, plus the bare reference orchestration, on the in-memory engine of
/// the test suite (<see cref="DurableEngine"/>: the test host's orchestration service behind its gRPC sidecar with the
/// Functions host's rules, and a Durable Task worker and client over that channel, serializing as the app does),
/// with the activities registered as the tests register them. The work-item slots are set (see <see cref="EngineLimits"/>).
/// </summary>
public sealed class Engine : IAsyncDisposable
{
    public const string Owner = "bench";
    public const string AgentName = "agi-0";

    private readonly DurableEngine host;

    private Engine(DurableEngine host, InMemoryMessageStore store, SessionsOptions options, EngineLimits limits)
    {
        this.host = host;
        Store = store;
        Options = options;
        Limits = limits;
        // No webhook_url is ever sent, so webhooks stay unconfigured.
        Gateway = new SessionGateway(host.Client, store, new NoSessionClaims(), options, TimeProvider.System, new AgentSessions.Functions.Webhooks.WebhookOptions());
    }

    public DurableTaskClient Client => host.Client;

    public InMemoryMessageStore Store { get; }

    public SessionsOptions Options { get; }

    public EngineLimits Limits { get; }

    public SessionGateway Gateway { get; }

    public static async Task<Engine> StartAsync(SessionsOptions options, EngineLimits limits, bool retainMessages)
    {
        var store = new InMemoryMessageStore(retainMessages);
        // The agent's step delay comes from the [delay=MS] marker of each task, so this default is never used.
        var agents = new AgentCatalog([new AgentDefinition(AgentName, AgentCatalog.ScriptedType, TimeSpan.FromSeconds(1))]);
        var resolver = new AgentResolver(agents, TimeProvider.System, new NoHttpClients());
        var app = AppTasks.Register(new AppTaskServices(store, resolver));
        void Register(DurableTaskRegistry registry)
        {
            app(registry);
            registry.AddOrchestratorFunc<BareOrchestration.Input, string>(BareOrchestration.Name,
                (context, input) => BareOrchestration.RunAsync(context, input));
        }

        var host = await DurableEngine.StartAsync(new DurableEngineOptions(DurableEngineKind.InMemory,
            OrchestrationSlots: limits.OrchestrationSlots, ActivitySlots: limits.ActivitySlots, Logging: QuietLogging), Register);
        return new Engine(host, store, options, limits);
    }

    /// <summary>Steps still in flight at shutdown fail to report back; that is expected, so nothing is logged from here on.</summary>
    public ValueTask DisposeAsync()
    {
        stopping = true;
        return host.DisposeAsync();
    }

    private static volatile bool stopping;

    /// <summary>Warnings and errors only, and on stderr: stdout carries the results.</summary>
    private static readonly ILoggerFactory QuietLogging = LoggerFactory.Create(logging =>
    {
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter((_, level) => !stopping && level >= LogLevel.Warning);
        logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    /// <summary>Creates with an Idempotency-Key are not part of the benchmark, so claims are never taken.</summary>
    private sealed class NoSessionClaims : ISessionClaims
    {
        public Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null) => Task.FromResult(true);

        public Task<SessionClaim?> GetAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null) =>
            Task.FromResult<SessionClaim?>(null);

        public Task<bool> TryTakeOverAsync(SessionClaim stale, CancellationToken cancellationToken) => Task.FromResult(false);

        public Task ReleaseAsync(string instanceId, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task MarkDeletedAsync(string instanceId, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Only scripted agents run here; they make no HTTP calls.</summary>
    private sealed class NoHttpClients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new NotSupportedException("the benchmark runs scripted agents only");
    }
}

/// <summary>
/// Work items the engine runs at once, in the sidecar's dispatchers and in the worker alike. The test host's
/// own default is one per core; the Functions app's host.json allows 32 orchestrations and 100 activities per instance.
/// </summary>
public sealed record EngineLimits(int OrchestrationSlots, int ActivitySlots)
{
    public const int DefaultOrchestrationSlots = 256;
    public const int DefaultActivitySlots = 1024;

    public static EngineLimits Read(Cli cli) => new(
        cli.Int("orchestration-slots", DefaultOrchestrationSlots, 1, 100_000),
        cli.Int("activity-slots", DefaultActivitySlots, 1, 100_000));

    public override string ToString() => $"{OrchestrationSlots} orchestration / {ActivitySlots} activity work-item slots";
}
