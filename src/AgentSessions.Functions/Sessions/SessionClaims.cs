using Azure;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Sessions;

/// <summary>
/// Makes "one session id, one orchestration" hold when two creates race with the same id (a
/// retried create with the same Idempotency-Key). Durable's own existence check and the start are
/// two steps, so two racing starts can both pass it; an insert into a table is atomic, so exactly
/// one create wins the claim and only the winner starts the orchestration.
/// </summary>
public interface ISessionClaims
{
    /// <summary>True for exactly one caller per instance id until the claim is released.</summary>
    Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken);

    Task ReleaseAsync(string instanceId, CancellationToken cancellationToken);
}

public sealed class TableSessionClaims(TableClient table) : ISessionClaims
{
    public const string DefaultTableName = "SessionClaims";
    private readonly Lazy<Task> created = new(() => table.CreateIfNotExistsAsync());

    public async Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken)
    {
        await created.Value;
        var (owner, sessionId) = Split(instanceId);
        try
        {
            await table.AddEntityAsync(new TableEntity(owner, sessionId), cancellationToken);
            return true;
        }
        catch (RequestFailedException conflict) when (conflict.Status == 409)
        {
            return false;
        }
    }

    public async Task ReleaseAsync(string instanceId, CancellationToken cancellationToken)
    {
        await created.Value;
        var (owner, sessionId) = Split(instanceId);
        await table.DeleteEntityAsync(owner, sessionId, ETag.All, cancellationToken);
    }

    private static (string Owner, string SessionId) Split(string instanceId)
    {
        var separator = instanceId.IndexOf(':');
        return (instanceId[..separator], instanceId[(separator + 1)..]);
    }
}
