using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Azure.Data.Tables;
using AgentSessions.Testing;
using Microsoft.DurableTask.Client;
using AgentSessions.Functions.Tests.Webhooks;
using AgentSessions.Functions.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Infrastructure;

/// <summary>
/// The real session orchestration and activities on a Durable engine (in memory, or the Azure Storage provider on
/// Azurite with a task hub of its own), with the real Table message store on Azurite. Each host gets its own tables
/// so tests do not see each other.
/// </summary>
public sealed class SessionTestHost : IAsyncDisposable
{
    public const string AliceKey = "alice-key";
    public const string BobKey = "bob-key";

    private readonly DurableEngine host;

    private SessionTestHost(
        DurableEngine host, IMessageStore store, ISessionClaims claims, SessionsOptions options, AgentCatalog agents, WebhookComponents webhooks)
    {
        this.host = host;
        Claims = claims;
        Store = store;
        Options = options;
        Agents = agents;
        Auth = ApiKeyAuthenticator.Parse($"alice={AliceKey};bob=sha256:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData("bob-key"u8)).ToLowerInvariant()}");
        Gateways = new SessionGatewayFactory(store, claims, options, TimeProvider.System, webhooks.Options);
        Webhooks = webhooks;
    }

    public DurableTaskClient Client => host.Client;

    /// <summary>The engine the orchestrations run on.</summary>
    public DurableEngine Engine => host;

    public IMessageStore Store { get; }

    /// <summary>The Idempotency-Key and restart claims the gateways use.</summary>
    public ISessionClaims Claims { get; }

    public SessionsOptions Options { get; }

    public AgentCatalog Agents { get; }

    public ApiKeyAuthenticator Auth { get; }

    public SessionGatewayFactory Gateways { get; }

    public SessionGateway Gateway => Gateways.Create(Client);

    public SessionFunctions SessionFunctions => new(Auth, Gateways, Agents, Options);

    public MessageFunctions MessageFunctions => new(Auth, Gateways, Store, Options);

    /// <summary>The dispatcher's parts, its delivery log included (see <see cref="WebhookComponents"/>).</summary>
    public WebhookComponents Webhooks { get; }

    public WebhookFunctions WebhookFunctions => Webhooks.Functions(Auth, Gateways);

    /// <summary>Scripted agents with no default delay, so steps run as fast as the engine allows.</summary>
    public static AgentCatalog FastAgents() => new([
        new AgentDefinition("agi-0", AgentCatalog.ScriptedType, TimeSpan.Zero),
        new AgentDefinition("agi-0-fast", AgentCatalog.ScriptedType, TimeSpan.Zero),
    ]);

    public static async Task<SessionTestHost> StartAsync(
        AzuriteFixture azurite, SessionsOptions? options = null, AgentCatalog? agents = null, WebhookOptions? webhooks = null,
        DurableEngineKind? engine = null)
    {
        var webhookComponents = WebhookComponents.Create(azurite, webhooks ?? new WebhookOptions());
        options ??= new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20) };
        agents ??= FastAgents();
        var table = new TableClient(azurite.ConnectionString, "msgs" + Guid.NewGuid().ToString("N")[..20]);
        IMessageStore store = new TableMessageStore(table);
        ISessionClaims claims = new TableSessionClaims(new TableClient(azurite.ConnectionString, "claims" + Guid.NewGuid().ToString("N")[..20]));
        var resolver = new AgentResolver(agents, TimeProvider.System, global::AgentSessions.Functions.Tests.Agents.AgentHttpClients.Shared, store);

        var host = await DurableEngine.StartAsync(new DurableEngineOptions(engine ?? azurite.Engine, azurite.ConnectionString, StopServiceInBackground: true),
            AppTasks.Register(new AppTaskServices(store, resolver, webhookComponents.Deliver, webhookComponents.LogActivities)));
        return new SessionTestHost(host, store, claims, options, agents, webhookComponents);
    }

    public async Task<SessionView> ViewAsync(string owner, string sessionId)
    {
        var metadata = await Client.GetInstanceAsync(SessionIds.InstanceId(owner, sessionId), getInputsAndOutputs: true);
        return SessionGateway.ReadView(metadata) ?? throw new InvalidOperationException("no such session");
    }

    /// <summary>Waits until the session shows <paramref name="status"/>, failing after the deadline.</summary>
    public Task<SessionView> WaitForStatusAsync(string owner, string sessionId, string status, TimeSpan? within = null) =>
        Eventually.ValueAsync(() => ViewAsync(owner, sessionId), v => v.Status == status, within,
            $"session {sessionId} to become {status}");

    public async Task<IReadOnlyList<SessionMessage>> MessagesAsync(string owner, string sessionId) =>
        await Store.ReadAsync(SessionIds.InstanceId(owner, sessionId), 0, 10_000);

    public ValueTask DisposeAsync() => host.DisposeAsync();
}

/// <summary>Waiting on conditions with a deadline, never on fixed sleeps.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(30);

    public static async Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? within, string what)
    {
        var deadline = DateTime.UtcNow + (within ?? DefaultDeadline);
        T last;
        while (true)
        {
            last = await read();
            if (done(last))
            {
                return last;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}; last value: {last}");
            }

            await Task.Delay(20);
        }
    }
}
