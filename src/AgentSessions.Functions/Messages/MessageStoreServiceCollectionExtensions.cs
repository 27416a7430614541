using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Messages;

public static class MessageStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="IMessageStore"/> backed by Azure Table storage.
    /// <paramref name="connectionString"/> is normally the app's <c>AzureWebJobsStorage</c> setting
    /// (<see cref="MessageStoreOptions.ConnectionStringSetting"/>); <c>UseDevelopmentStorage=true</c> targets Azurite.
    /// </summary>
    public static IServiceCollection AddTableMessageStore(
        this IServiceCollection services,
        string connectionString,
        Action<MessageStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);

        var options = new MessageStoreOptions();
        configure?.Invoke(options);
        TableMessageStore.ValidateTableName(options.TableName);

        services.AddSingleton<IMessageStore>(_ => new TableMessageStore(new TableClient(connectionString, options.TableName)));
        return services;
    }
}
