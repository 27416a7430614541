using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// A fresh session host per test on the fixture's Durable engine, served over real HTTP by
/// <see cref="ApiTestServer"/>, with two callers, alice and bob. Derived classes pass options when they need a host
/// with other settings, and name their collection.
/// </summary>
public abstract class HostedHttpTests(AzuriteFixture azurite, SessionsOptions? options = null) : IAsyncLifetime
{
    protected SessionTestHost Host { get; private set; } = null!;

    protected ApiTestServer Server { get; private set; } = null!;

    protected SessionsApi Alice { get; private set; } = null!;

    protected SessionsApi Bob { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await SessionTestHost.StartAsync(azurite, options);
        Server = await ApiTestServer.StartAsync(Host);
        Alice = SessionsApi.Alice(Host, Server);
        Bob = SessionsApi.Bob(Host, Server);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Host.DisposeAsync();
    }
}
