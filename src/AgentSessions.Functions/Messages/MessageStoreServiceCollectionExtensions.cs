using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Messages;

public static class MessageStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="IMessageStore"/> backed by Azure Table storage in the account
    /// <paramref name="tables"/> reaches (see <c>Storage/StorageConnection</c>: connection string or
    /// managed identity).
    /// </summary>
    public static IServiceCollection AddTableMessageStore(
        this IServiceCollection services,
        TableServiceClient tables,
        Action<MessageStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(tables);

        var options = new MessageStoreOptions();
        configure?.Invoke(options);
        TableMessageStore.ValidateTableName(options.TableName);

        services.AddSingleton<IMessageStore>(new TableMessageStore(tables.GetTableClient(options.TableName)));
        return services;
    }
}
