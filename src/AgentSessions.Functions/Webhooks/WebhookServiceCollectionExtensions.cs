using System.Net;
using System.Net.Sockets;
using AgentSessions.Functions.Storage;
using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Webhooks;

public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="WebhookOptions"/> (from the <c>WEBHOOK_*</c> / <c>WEBHOOKS_*</c> settings, validated here so a bad one
    /// stops start-up), <see cref="WebhookUrlGuard"/>, the delivery client and the delivery log in the app's storage account
    /// (<c>AzureWebJobsStorage</c>). Needs a <see cref="TimeProvider"/> registered too.
    /// </summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var options = WebhookOptions.FromConfiguration(configuration);
        return services.AddWebhooks(options)
            .AddWebhookDeliveryLog(StorageConnection.CreateTableServiceClient(configuration).GetTableClient(TableWebhookDeliveryLog.DefaultTableName), options);
    }

    /// <summary>The delivery log in <paramref name="table"/>, keeping <see cref="WebhookOptions.LogEventsPerSession"/> events per session.</summary>
    public static IServiceCollection AddWebhookDeliveryLog(this IServiceCollection services, TableClient table, WebhookOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton<IWebhookDeliveryLog>(new TableWebhookDeliveryLog(table, options.LogEventsPerSession));
        return services;
    }

    /// <summary>Options, guard and delivery client, with options already made (tests); no delivery log.</summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services, WebhookOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton<WebhookUrlGuard>();
        services.AddWebhookHttpClient();
        return services;
    }

    /// <summary>
    /// The named client <see cref="DeliverWebhookActivity.HttpClientName"/>: no client-wide timeout (each attempt is
    /// bounded by <see cref="WebhookOptions.DeliveryTimeout"/>), no redirects (a redirect could lead anywhere,
    /// including inside the network), no proxy and no cookies. Unless private networks are allowed, it checks the
    /// address it actually connects to, so a DNS answer that changed after the URL check cannot reach inside.
    /// </summary>
    public static IHttpClientBuilder AddWebhookHttpClient(this IServiceCollection services) =>
        services.AddHttpClient(DeliverWebhookActivity.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(provider => CreateHandler(provider.GetRequiredService<WebhookOptions>()));

    private static SocketsHttpHandler CreateHandler(WebhookOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = options.DeliveryTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        };
        if (!options.AllowPrivateNetworks)
        {
            handler.ConnectCallback = ConnectToPublicAddressAsync;
        }

        return handler;
    }

    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> that connects only to addresses <see cref="WebhookUrlGuard.IsForbidden"/>
    /// allows; also used by the llm agents' <c>fetch_url</c> client.
    /// </summary>
    internal static async ValueTask<Stream> ConnectToPublicAddressAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        IPAddress[] addresses;
        try
        {
            addresses = await WebhookUrlGuard.ResolveAsync(host.TrimStart('[').TrimEnd(']'), cancellationToken);
        }
        catch (SocketException failure)
        {
            throw new HttpRequestException($"The host {host} could not be resolved.", failure);
        }

        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"The host {host} could not be resolved.");
        }

        if (addresses.Any(WebhookUrlGuard.IsForbidden))
        {
            throw new HttpRequestException($"The host {host} resolves to a loopback, private, link-local or metadata address.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
