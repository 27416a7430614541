using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Agents;

public static class AgentHttpClientRegistration
{
    /// <summary>
    /// Registers the named client <see cref="HttpAgent.HttpClientName"/>: no client-wide timeout (each call is bounded
    /// by its agent's own <see cref="HttpAgent.Timeout"/>) and no automatic redirects (a redirected POST would lose its body;
    /// a redirect is reported as a configuration error instead).
    /// </summary>
    /// <remarks>
    /// Also registers the clients of the llm agents' <c>fetch_url</c> (<see cref="PageFetcher.HttpClientName"/> and
    /// <see cref="PageFetcher.PrivateHttpClientName"/>): no redirects (the fetcher follows them itself, checking each
    /// URL), no proxy, no cookies; the first connects only to public addresses, re-checking the address it actually
    /// connects to with the webhook client's rule, so a DNS answer that changed after the URL check cannot reach inside.
    /// </remarks>
    public static IHttpClientBuilder AddAgentHttpClient(this IServiceCollection services)
    {
        services.AddHttpClient(PageFetcher.HttpClientName, client => client.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => FetchHandler(publicOnly: true));
        services.AddHttpClient(PageFetcher.PrivateHttpClientName, client => client.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => FetchHandler(publicOnly: false));
        return services.AddHttpClient(HttpAgent.HttpClientName, client => client.Timeout = System.Threading.Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            });
    }

    private static SocketsHttpHandler FetchHandler(bool publicOnly)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            AutomaticDecompression = System.Net.DecompressionMethods.All,
        };
        if (publicOnly)
        {
            handler.ConnectCallback = WebhookServiceCollectionExtensions.ConnectToPublicAddressAsync;
        }

        return handler;
    }
}
