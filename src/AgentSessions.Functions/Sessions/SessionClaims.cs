using Azure;
using Azure.Data.Tables;

namespace AgentSessions.Functions.Sessions;

/// <summary>What a claim row says about its session id.</summary>
/// <param name="Purpose">Null for the session's own claim (taken by a create with an Idempotency-Key); otherwise what
/// else is claimed, e.g. one restart of its orchestration.</param>
/// <param name="Deleted">The session this id named was deleted: the id, and the Idempotency-Key that made it, stay used.</param>
/// <param name="ClaimedAt">When the claim was taken (storage time), to tell work still under way from work whose process died.</param>
public sealed record SessionClaim(string InstanceId, string? Purpose, bool Deleted, DateTimeOffset ClaimedAt, ETag ETag);

/// <summary>
/// Makes "one session id, one orchestration" hold when two creates race with the same id (a
/// retried create with the same Idempotency-Key). Durable's own existence check and the start are
/// two steps, so two racing starts can both pass it; an insert into a table is atomic, so exactly
/// one create wins the claim and only the winner starts the orchestration. The same table guards the
/// restart of a failed session, so only one caller restarts it.
/// </summary>
public interface ISessionClaims
{
    /// <summary>True for exactly one caller per (instance, purpose) until the claim is released.</summary>
    Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null);

    Task<SessionClaim?> GetAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null);

    /// <summary>
    /// Takes over a claim whose holder died before it finished (a create that never started the session, a restart
    /// that never happened): true for exactly one caller, because the update only succeeds while the row is as
    /// <paramref name="stale"/> read it.
    /// </summary>
    Task<bool> TryTakeOverAsync(SessionClaim stale, CancellationToken cancellationToken);

    /// <summary>Releases a claim whose create failed, so a retry can create the session.</summary>
    Task ReleaseAsync(string instanceId, CancellationToken cancellationToken);

    /// <summary>Keeps a claimed id from ever naming a session again; nothing happens for an id that was never claimed.</summary>
    Task MarkDeletedAsync(string instanceId, CancellationToken cancellationToken);
}

public sealed class TableSessionClaims(TableClient table) : ISessionClaims
{
    public const string DefaultTableName = "SessionClaims";
    private const string DeletedProperty = "Deleted";
    private readonly Lazy<Task> created = new(() => table.CreateIfNotExistsAsync());

    public async Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null)
    {
        await created.Value;
        var (partition, row) = Key(instanceId, purpose);
        try
        {
            await table.AddEntityAsync(new TableEntity(partition, row), cancellationToken);
            return true;
        }
        catch (RequestFailedException conflict) when (conflict.Status == 409)
        {
            return false;
        }
    }

    public async Task<SessionClaim?> GetAsync(string instanceId, CancellationToken cancellationToken, string? purpose = null)
    {
        await created.Value;
        var (partition, row) = Key(instanceId, purpose);
        var found = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellationToken);
        return found.HasValue && found.Value is { } entity
            ? new SessionClaim(instanceId, purpose, entity.GetBoolean(DeletedProperty) == true, entity.Timestamp ?? DateTimeOffset.MinValue,
                entity.ETag)
            : null;
    }

    public async Task<bool> TryTakeOverAsync(SessionClaim stale, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stale);
        await created.Value;
        var (partition, row) = Key(stale.InstanceId, stale.Purpose);
        try
        {
            // Replacing the row renews its timestamp, so the new holder has the full grace period.
            await table.UpdateEntityAsync(new TableEntity(partition, row), stale.ETag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException lost) when (lost.Status is 404 or 412)
        {
            return false;
        }
    }

    public async Task ReleaseAsync(string instanceId, CancellationToken cancellationToken)
    {
        await created.Value;
        var (partition, row) = Key(instanceId, purpose: null);
        await table.DeleteEntityAsync(partition, row, ETag.All, cancellationToken);
    }

    public async Task MarkDeletedAsync(string instanceId, CancellationToken cancellationToken)
    {
        await created.Value;
        var (partition, row) = Key(instanceId, purpose: null);
        try
        {
            await table.UpdateEntityAsync(new TableEntity(partition, row) { [DeletedProperty] = true }, ETag.All,
                TableUpdateMode.Merge, cancellationToken);
        }
        catch (RequestFailedException missing) when (missing.Status == 404)
        {
            // Never claimed (no Idempotency-Key): a random id cannot be named again anyway.
        }
    }

    /// <summary>Row keys may not hold '/', '\', '#', '?' or control characters.</summary>
    private static string Sanitize(string text) =>
        new([.. text.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').Take(200)]);

    /// <summary>Partition = owner, row = session id (and purpose): an owner's claims sit together.</summary>
    private static (string Partition, string Row) Key(string instanceId, string? purpose)
    {
        var separator = instanceId.IndexOf(':');
        var sessionId = instanceId[(separator + 1)..];
        return (instanceId[..separator], purpose is null ? sessionId : $"{sessionId}.{Sanitize(purpose)}");
    }
}
