using AgentSessions.Functions.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Health;

public static class HealthServiceCollectionExtensions
{
    /// <summary>The <see cref="HealthChecker"/> behind <c>GET /v1/health</c>, with its own no-retry storage client.</summary>
    public static IServiceCollection AddSessionHealth(this IServiceCollection services, IConfiguration configuration, HealthOptions? options = null)
    {
        options ??= new HealthOptions();
        var tables = StorageConnection.CreateTableServiceClient(configuration, HealthOptions.StorageClientOptions(options.CheckTimeout));
        services.AddSingleton(options);
        services.AddSingleton(provider => new HealthChecker(tables, options, provider.GetRequiredService<ILogger<HealthChecker>>()));
        return services;
    }
}
