using AgentSessions.Functions.Agents;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Tests.Agents;

/// <summary>An <see cref="IHttpClientFactory"/> set up as in production, shared by every test for the life of the test run.</summary>
public static class AgentHttpClients
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddAgentHttpClient().Services.BuildServiceProvider();

    public static IHttpClientFactory Shared { get; } = Services.GetRequiredService<IHttpClientFactory>();
}
