using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Agents;

public static class AgentHttpClientRegistration
{
    /// <summary>
    /// Registers the named client <see cref="HttpAgent.HttpClientName"/>: no client-wide timeout (each call is bounded
    /// by its agent's own <see cref="HttpAgent.Timeout"/>) and no automatic redirects (a redirected POST would lose its body;
    /// a redirect is reported as a configuration error instead).
    /// </summary>
    public static IHttpClientBuilder AddAgentHttpClient(this IServiceCollection services) =>
        services.AddHttpClient(HttpAgent.HttpClientName, client => client.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            });
}
