using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Functions.Webhooks;
using AgentSessions.Testing;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Tests.Engines;

/// <summary>Test classes marked <c>[Collection(ProcessesCollection.Name)]</c> start and kill worker processes on an Azurite of their own.</summary>
[CollectionDefinition(Name)]
public sealed class ProcessesCollection : ICollectionFixture<AzureStorageFixture>
{
    public const string Name = "processes";
}

/// <summary>
/// One task hub on Azurite with the pieces a crash test moves: worker processes it starts and kills, and clients in
/// the test's own process (a client-only engine each, as the Functions host's HTTP side) with their gateways.
/// </summary>
public sealed class CrashRig(AzuriteFixture azurite) : IAsyncDisposable
{
    public const string Owner = "alice";

    /// <summary>The scripted agent's step timeout, fixed into the sessions (a step deadline for generations before
    /// <see cref="SessionInput.UntimedStepsLoopVersion"/>).</summary>
    public const int AgentTimeoutSeconds = 4;

    /// <summary>
    /// Messages a killed worker had taken from a control queue come back after this (host.json's value in production);
    /// short here so a test waits seconds, not a minute, for the commands that were in flight.
    /// </summary>
    public const int ControlQueueVisibilitySeconds = 15;

    private readonly List<IAsyncDisposable> owned = [];

    public string Hub { get; } = DurableEngine.NewTaskHubName();

    public string MessagesTable { get; } = "msgs" + Guid.NewGuid().ToString("N")[..20];

    public IMessageStore Store => new TableMessageStore(new TableClient(azurite.ConnectionString, MessagesTable));

    public SessionsOptions Options { get; } = new() { AckTimeout = TimeSpan.FromSeconds(3) };

    private readonly TableSessionClaims claims = new(new TableClient(azurite.ConnectionString, "claims" + Guid.NewGuid().ToString("N")[..20]));

    public async Task<WorkerProcess> StartHostAsync(string name)
    {
        var worker = await WorkerProcess.StartHostAsync(name, azurite.ConnectionString, Hub, MessagesTable, AgentTimeoutSeconds, ControlQueueVisibilitySeconds);
        owned.Add(worker);
        return worker;
    }

    public async Task<WorkerProcess> StartLanguageWorkerAsync(string name, Uri sidecar)
    {
        var worker = await WorkerProcess.StartWorkerAsync(name, azurite.ConnectionString, sidecar, MessagesTable, AgentTimeoutSeconds);
        owned.Add(worker);
        return worker;
    }

    /// <summary>A client on the task hub, as one more instance of the app's HTTP side would be.</summary>
    public async Task<SessionGateway> ClientAsync()
    {
        var engine = await DurableEngine.StartAsync(
            new DurableEngineOptions(DurableEngineKind.AzureStorage, azurite.ConnectionString, TaskHub: Hub), register: null);
        owned.Add(engine);
        return Gateway(engine);
    }

    /// <summary>The Functions host in this process (provider and sidecar), dispatching to a language worker started apart.</summary>
    public async Task<DurableEngine> HostForExternalWorkerAsync()
    {
        var engine = await DurableEngine.StartAsync(new DurableEngineOptions(DurableEngineKind.AzureStorage, azurite.ConnectionString,
            TaskHub: Hub, WorkerId: "host-" + Hub, ExternalWorker: true), register: null);
        owned.Add(engine);
        return engine;
    }

    private DurableEngine? reader;

    public async Task<Microsoft.DurableTask.Client.OrchestrationMetadata?> InstanceAsync(string sessionId)
    {
        reader ??= await DurableEngine.StartAsync(new DurableEngineOptions(DurableEngineKind.AzureStorage, azurite.ConnectionString, TaskHub: Hub), null);
        return await reader.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, sessionId), getInputsAndOutputs: true);
    }

    public SessionGateway Gateway(DurableEngine engine) =>
        new(engine.Client, Store, claims, Options, TimeProvider.System, new WebhookOptions());

    public async Task<string> CreateAsync(SessionGateway gateway, string goal) =>
        (await gateway.CreateAsync(Owner, new NewSession("agi-0", 1000, goal, null, StepTimeout: TimeSpan.FromSeconds(AgentTimeoutSeconds)),
            null, default)).View.SessionId;

    /// <summary>For failure messages: the provider's rows of one session (instances table, history by execution).</summary>
    public async Task<string> DescribeStorageAsync(string sessionId)
    {
        var instanceId = SessionIds.InstanceId(Owner, sessionId);
        var instances = new TableClient(azurite.ConnectionString, Hub + "Instances");
        var history = new TableClient(azurite.ConnectionString, Hub + "History");
        var row = await instances.GetEntityIfExistsAsync<TableEntity>(instanceId, "");
        var executions = new Dictionary<string, int>();
        var types = new List<string>();
        await foreach (var e in history.QueryAsync<TableEntity>(e => e.PartitionKey == instanceId))
        {
            var execution = e.GetString("ExecutionId") ?? "?";
            executions[execution] = executions.GetValueOrDefault(execution) + 1;
            types.Add(e.RowKey + ":" + e.GetString("EventType"));
        }

        return $"{sessionId}: instances row execution {(row.HasValue ? row.Value!.GetString("ExecutionId") + " " + row.Value.GetString("RuntimeStatus") : "none")}; " +
            $"history {string.Join(", ", executions.Select(x => $"{x.Key}={x.Value}"))}; first rows {string.Join(" ", types.Take(6))}";
    }

    /// <summary>
    /// Whether a worker holds an activity now: the task hub's work-item queue has a message that is not visible, i.e.
    /// one a host has taken and is running (a step, a message-store write). Killing a host then leaves that message
    /// hidden until the queue's visibility timeout.
    /// </summary>
    public async Task<bool> ActivityHeldAsync()
    {
        var queue = new Azure.Storage.Queues.QueueClient(azurite.ConnectionString, Hub.ToLowerInvariant() + "-workitems");
        var count = (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount;
        return count > 0 && (await queue.PeekMessagesAsync(32)).Value.Length < count;
    }

    /// <summary>
    /// Who owns each of the task hub's partitions now, from the provider's leases: rows of its partition table, or
    /// the ownership blobs of its lease container (one per control queue, a JSON document with the owner), whichever host.json selects.
    /// </summary>
    public async Task<IReadOnlyList<string?>> PartitionOwnersAsync()
    {
        var owners = new List<string?>();
        if (TaskHubSettings.FromHostJson().UseTablePartitionManagement)
        {
            await foreach (var lease in new TableClient(azurite.ConnectionString, Hub + "Partitions").QueryAsync<TableEntity>())
            {
                // A partition being handed over names both, so it counts for neither until the move is done.
                var next = lease.GetString("NextOwner");
                owners.Add(string.IsNullOrEmpty(next) ? lease.GetString("CurrentOwner") : $"{lease.GetString("CurrentOwner")}->{next}");
            }

            return owners;
        }

        var container = new Azure.Storage.Blobs.BlobContainerClient(azurite.ConnectionString, Hub.ToLowerInvariant() + "-leases");
        await foreach (var blob in container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, "ownership/", CancellationToken.None))
        {
            var content = await container.GetBlobClient(blob.Name).DownloadContentAsync();
            using var lease = System.Text.Json.JsonDocument.Parse(content.Value.Content);
            owners.Add(lease.RootElement.TryGetProperty("Owner", out var owner) ? owner.GetString() : null);
        }

        return owners;
    }

    public async Task<IReadOnlyList<SessionMessage>> MessagesAsync(string sessionId) =>
        await Store.ReadAsync(SessionIds.InstanceId(Owner, sessionId), 0, 100_000);

    public async ValueTask DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(owned))
        {
            await item.DisposeAsync();
        }
    }
}
