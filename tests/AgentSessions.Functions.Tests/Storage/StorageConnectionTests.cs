using AgentSessions.Functions.Storage;
using AgentSessions.Functions.Health;
using AgentSessions.Functions.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Storage;

/// <summary>The storage client is made from AzureWebJobsStorage in both forms the Functions host accepts.</summary>
public sealed class StorageConnectionTests
{
    private static IConfiguration Settings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();

    [Fact]
    public void ConnectionString_IsUsedAsIs()
    {
        var client = StorageConnection.CreateTableServiceClient(Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true")));
        Assert.Equal("devstoreaccount1", client.AccountName);
    }

    // The app settings AzureWebJobsStorage__accountName etc. (environment variables) read as AzureWebJobsStorage:accountName.
    [Fact]
    public void IdentityBased_AccountName_ManagedIdentity_AsInfraDeploysIt()
    {
        var client = StorageConnection.CreateTableServiceClient(Settings(
            ("AzureWebJobsStorage:accountName", "stabc123"),
            ("AzureWebJobsStorage:credential", "managedidentity"),
            ("AzureWebJobsStorage:clientId", "11111111-2222-3333-4444-555555555555")));

        Assert.Equal(new Uri("https://stabc123.table.core.windows.net"), client.Uri);
    }

    [Fact]
    public void IdentityBased_TableServiceUri_WinsOverTheAccountName()
    {
        var client = StorageConnection.CreateTableServiceClient(Settings(
            ("AzureWebJobsStorage:tableServiceUri", "https://custom.example.net/"),
            ("AzureWebJobsStorage:accountName", "ignored")));

        Assert.Equal("custom.example.net", client.Uri.Host);
    }

    [Theory]
    [InlineData("AzureWebJobsStorage:accountName", "Not/An.Account")]
    [InlineData("AzureWebJobsStorage:tableServiceUri", "not a url")]
    [InlineData("Unrelated", "x")]
    public void BadOrMissing_StopsStartUpNamingTheSetting(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => StorageConnection.CreateTableServiceClient(Settings((key, value))));
        Assert.Contains("AzureWebJobsStorage", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAgentSessions_RegistersTheHealthFunctionsDependencies()
    {
        var settings = Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), ("SESSIONS_API_KEYS", "dev=dev-key-1"));
        var services = new ServiceCollection().AddLogging().AddAgentSessions(settings);
        using var provider = services.BuildServiceProvider();

        // The worker makes function classes this way.
        Assert.NotNull(ActivatorUtilities.CreateInstance<HealthFunctions>(provider));
        Assert.Equal(TimeSpan.FromSeconds(5), provider.GetRequiredService<HealthOptions>().CheckTimeout);
    }
}
