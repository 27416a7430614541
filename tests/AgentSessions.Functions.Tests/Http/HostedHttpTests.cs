using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// A fresh session host per test with two callers, alice and bob, on the fixture's Durable engine.
/// Derived classes pass options when they need a host with other settings, and name their collection.
/// </summary>
public abstract class HostedHttpTests(AzuriteFixture azurite, SessionsOptions? options = null) : IAsyncLifetime
{
    protected SessionTestHost Host { get; private set; } = null!;

    protected SessionsApi Alice { get; private set; } = null!;

    protected SessionsApi Bob { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await SessionTestHost.StartAsync(azurite, options);
        Alice = SessionsApi.Alice(Host);
        Bob = SessionsApi.Bob(Host);
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
