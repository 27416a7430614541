using AgentSessions.Testing;

namespace AgentSessions.Functions.Tests.Infrastructure;

/// <summary>Test classes marked <c>[Collection(AzuriteFixture.CollectionName)]</c> share one Azurite process.</summary>
[CollectionDefinition(AzuriteFixture.CollectionName)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
}

/// <summary>Test classes marked <c>[Collection(AzureStorageFixture.CollectionName)]</c> share one Azurite process, and run on the Azure Storage engine.</summary>
[CollectionDefinition(AzureStorageFixture.CollectionName)]
public sealed class AzureStorageCollection : ICollectionFixture<AzureStorageFixture>
{
}

/// <summary>
/// One Azurite (<see cref="AzuriteProcess"/>) for a collection of test classes, started before the first and stopped
/// after the last, and the Durable engine those classes run on: the in-memory one here, where speed matters and
/// nothing backend-specific is tested.
/// </summary>
public class AzuriteFixture : IAsyncLifetime
{
    public const string CollectionName = "azurite";

    public const string AccountName = AzuriteProcess.AccountName;

    /// <summary>The well-known key of Azurite's development account (public, not a secret).</summary>
    public const string AccountKey = AzuriteProcess.AccountKey;

    private AzuriteProcess? process;

    private AzuriteProcess Process => process ?? throw new InvalidOperationException("Azurite has not started yet.");

    public int BlobPort => Process.BlobPort;

    public int QueuePort => Process.QueuePort;

    public int TablePort => Process.TablePort;

    public string ConnectionString => Process.ConnectionString;

    /// <summary>The engine <see cref="SessionTestHost"/> starts for tests of this fixture's collection.</summary>
    public virtual DurableEngineKind Engine => DurableEngineKind.InMemory;

    public async Task InitializeAsync() => process = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        await DurableEngine.WaitForBackgroundStopsAsync();
        if (process is not null)
        {
            await process.DisposeAsync();
        }
    }
}

/// <summary>
/// Azurite for suites whose behaviour depends on the Durable backend: their hosts run the Azure Storage provider (the
/// production backend) on this Azurite, each on a task hub of its own. A collection of its own, so these classes run
/// beside the in-memory ones.
/// </summary>
public sealed class AzureStorageFixture : AzuriteFixture
{
    public new const string CollectionName = "azure-storage";

    public override DurableEngineKind Engine => DurableEngineKind.AzureStorage;
}
