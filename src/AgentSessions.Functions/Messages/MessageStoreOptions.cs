namespace AgentSessions.Functions.Messages;

/// <summary>Settings of <see cref="TableMessageStore"/>.</summary>
public sealed class MessageStoreOptions
{
    public const string DefaultTableName = "SessionMessages";

    /// <summary>Azure table that holds all sessions' messages (one partition per session).</summary>
    public string TableName { get; set; } = DefaultTableName;
}
