namespace AgentSessions.Functions.Messages;

/// <summary>Settings of <see cref="TableMessageStore"/>.</summary>
public sealed class MessageStoreOptions
{
    public const string DefaultTableName = "SessionMessages";

    /// <summary>Name of the app setting that holds the storage connection string (Azurite: <c>UseDevelopmentStorage=true</c>).</summary>
    public const string ConnectionStringSetting = "AzureWebJobsStorage";

    /// <summary>Azure table that holds all sessions' messages (one partition per session).</summary>
    public string TableName { get; set; } = DefaultTableName;
}
