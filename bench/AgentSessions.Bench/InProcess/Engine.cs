using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Azure.Data.Tables;
using AgentSessions.Testing;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The real session orchestration and activities, plus the bare reference orchestration, on an engine of the test
/// suite (<see cref="DurableEngine"/>: an orchestration service behind the test host's gRPC sidecar with the Functions
/// host's rules, and a Durable Task worker and client over that channel, serializing as the app does), with the
/// activities registered as the tests register them. The backend is the test host's in-memory one, or the Azure
/// Storage provider (the production backend) on an Azurite this engine starts on free ports and stops with itself.
/// The work-item slots are set (see <see cref="EngineLimits"/>).
/// </summary>
public sealed class Engine : IAsyncDisposable
{
    public const string Owner = "bench";
    public const string AgentName = "agi-0";

    private readonly DurableEngine host;
    private readonly AzuriteProcess? azurite;

    private Engine(DurableEngine host, AzuriteProcess? azurite, IMessageStore store, string storeName, SessionsOptions options, EngineLimits limits,
        BackendKind backend)
    {
        this.host = host;
        this.azurite = azurite;
        Store = store;
        StoreName = storeName;
        Backend = backend;
        Options = options;
        Limits = limits;
        // No webhook_url is ever sent, so webhooks stay unconfigured.
        Gateway = new SessionGateway(host.Client, store, new NoSessionClaims(), options, TimeProvider.System, new AgentSessions.Functions.Webhooks.WebhookOptions());
    }

    public DurableTaskClient Client => host.Client;

    public IMessageStore Store { get; }

    /// <summary>Where messages go: "in-memory" or "table" (Azure Table storage on the engine's Azurite).</summary>
    public string StoreName { get; }

    public BackendKind Backend { get; }

    /// <summary>The most history events one generation (execution) of the instance carried, and its executions.</summary>
    public HistoryRecord? HistoryOf(string instanceId) => host.HistoryOf(instanceId);

    public SessionsOptions Options { get; }

    public EngineLimits Limits { get; }

    public SessionGateway Gateway { get; }

    public static async Task<Engine> StartAsync(SessionsOptions options, EngineLimits limits, bool retainMessages,
        BackendKind backend = BackendKind.InMemory, MessageStoreKind messages = MessageStoreKind.InMemory)
    {
        AzuriteProcess? azurite = null;
        if (backend == BackendKind.AzureStorage || messages == MessageStoreKind.Table)
        {
            Progress.Log("engine: starting Azurite from node_modules on free ports…");
            azurite = await AzuriteProcess.StartAsync();
            Progress.Log($"engine: Azurite answers (blob {azurite.BlobPort}, queue {azurite.QueuePort}, table {azurite.TablePort})");
        }

        try
        {
            return await StartAsync(options, limits, retainMessages, backend, messages, azurite);
        }
        catch
        {
            if (azurite is not null)
            {
                await azurite.DisposeAsync();
            }

            throw;
        }
    }

    private static async Task<Engine> StartAsync(SessionsOptions options, EngineLimits limits, bool retainMessages, BackendKind backend,
        MessageStoreKind messages, AzuriteProcess? azurite)
    {
        IMessageStore store = messages == MessageStoreKind.Table
            ? new TableMessageStore(new TableClient(azurite!.ConnectionString, "benchmsgs" + Guid.NewGuid().ToString("N")[..16]))
            : new InMemoryMessageStore(retainMessages);
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

        var host = await DurableEngine.StartAsync(new DurableEngineOptions(
            backend == BackendKind.AzureStorage ? DurableEngineKind.AzureStorage : DurableEngineKind.InMemory,
            StorageConnectionString: azurite?.ConnectionString,
            OrchestrationSlots: limits.OrchestrationSlots, ActivitySlots: limits.ActivitySlots, Logging: QuietLogging), Register);
        return new Engine(host, azurite, store, messages == MessageStoreKind.Table ? "table" : "in-memory", options, limits, backend);
    }

    /// <summary>What the tables print about the backend.</summary>
    public string Describe() => Backend == BackendKind.AzureStorage
        ? $"the Azure Storage provider (DurableTask.AzureStorage, production backend, host.json's partitions and polling) on Azurite " +
          $"started by the tool, behind the test host's gRPC sidecar, {Limits}; message store: " +
          (StoreName == "table" ? "Azure Table storage on the same Azurite" : "in memory")
        : $"Microsoft.DurableTask.InProcessTestHost's in-memory backend and gRPC sidecar on loopback, {Limits}; message store: " +
          (StoreName == "table" ? "Azure Table storage on Azurite" : "in memory (isolates orchestration overhead from storage)");

    /// <summary>Steps still in flight at shutdown fail to report back; that is expected, so nothing is logged from here on.</summary>
    public async ValueTask DisposeAsync()
    {
        stopping = true;
        await host.DisposeAsync();
        if (azurite is not null)
        {
            await azurite.DisposeAsync();
        }
    }

    private static volatile bool stopping;

    /// <summary>Warnings and errors only, and on stderr: stdout carries the results.</summary>
    private static readonly ILoggerFactory QuietLogging = LoggerFactory.Create(logging =>
    {
        logging.SetMinimumLevel(LogLevel.Warning);
        // The Azure Storage provider warns of every event it discards for a terminated instance, as each phase's
        // sessions are; its errors still show.
        logging.AddFilter((category, level) => !stopping && level >= (category?.StartsWith("DurableTask.AzureStorage", StringComparison.Ordinal) == true
            ? LogLevel.Error
            : LogLevel.Warning));
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

    /// <summary>
    /// In memory the defaults above (the test host's one per core would measure its 500 ms back-off); on Azure Storage
    /// host.json's, as production runs the provider.
    /// </summary>
    public static EngineLimits Read(Cli cli, BackendKind backend)
    {
        var host = TaskHubSettings.FromHostJson();
        var (orchestrations, activities) = backend == BackendKind.AzureStorage
            ? (host.MaxConcurrentOrchestratorFunctions, host.MaxConcurrentActivityFunctions)
            : (DefaultOrchestrationSlots, DefaultActivitySlots);
        return new(cli.Int("orchestration-slots", orchestrations, 1, 100_000), cli.Int("activity-slots", activities, 1, 100_000));
    }

    public override string ToString() => $"{OrchestrationSlots} orchestration / {ActivitySlots} activity work-item slots";
}

/// <summary>The Durable backend under the engine (<c>--engine</c>).</summary>
public enum BackendKind
{
    InMemory,
    AzureStorage,
}

/// <summary>Where the session's messages go (<c>--messages</c>).</summary>
public enum MessageStoreKind
{
    InMemory,
    Table,
}

public static class EngineChoice
{
    public static BackendKind Backend(Cli cli) =>
        cli.Choice("engine", "in-memory", "in-memory", "azure-storage") == "azure-storage" ? BackendKind.AzureStorage : BackendKind.InMemory;

    /// <summary>Default: Table storage on Azure Storage (as production), in memory otherwise.</summary>
    public static MessageStoreKind Messages(Cli cli, BackendKind backend) =>
        cli.Choice("messages", backend == BackendKind.AzureStorage ? "table" : "in-memory", "in-memory", "table") == "table"
            ? MessageStoreKind.Table
            : MessageStoreKind.InMemory;

    public static string Name(BackendKind backend) => backend == BackendKind.AzureStorage ? "azure-storage" : "in-memory";
}
