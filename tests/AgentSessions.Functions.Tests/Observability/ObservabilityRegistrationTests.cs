using AgentSessions.Functions.Observability;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Logs;
using OpenTelemetry.Trace;

namespace AgentSessions.Functions.Tests.Observability;

public sealed class ObservabilityRegistrationTests
{
    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void WithoutConnectionString_NothingIsRegistered(string? connectionString)
    {
        var services = new ServiceCollection();
        var settings = connectionString is null
            ? Configuration()
            : Configuration((ObservabilityServiceCollectionExtensions.ConnectionStringSetting, connectionString));

        services.AddObservability(settings);

        Assert.Empty(services);
    }

    [Fact]
    public void WithConnectionString_TracesAndLogsGoToOpenTelemetry_WithScopes()
    {
        var services = new ServiceCollection();
        services.AddObservability(Configuration(
            (ObservabilityServiceCollectionExtensions.ConnectionStringSetting, "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/")));

        Assert.Contains(services, d => d.ServiceType == typeof(TracerProvider));
        using var provider = services.BuildServiceProvider();
        var logging = provider.GetRequiredService<IOptions<OpenTelemetryLoggerOptions>>().Value;
        Assert.True(logging.IncludeScopes, "scopes carry SessionId");
        Assert.True(logging.IncludeFormattedMessage);
    }

    [Fact]
    public void AuthenticationString_Aad_WithClientId_IsAManagedIdentityCredential()
    {
        Assert.IsType<ManagedIdentityCredential>(
            ObservabilityServiceCollectionExtensions.EntraIdCredential("Authorization=AAD;ClientId=11111111-2222-3333-4444-555555555555"));
        Assert.IsType<ManagedIdentityCredential>(ObservabilityServiceCollectionExtensions.EntraIdCredential("Authorization=AAD"));
        Assert.Null(ObservabilityServiceCollectionExtensions.EntraIdCredential(null));
        Assert.Null(ObservabilityServiceCollectionExtensions.EntraIdCredential(" "));
    }

    [Fact]
    public void AuthenticationString_NotAad_StopsStartUpNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => ObservabilityServiceCollectionExtensions.EntraIdCredential("Authorization=Basic"));
        Assert.Contains(ObservabilityServiceCollectionExtensions.AuthenticationStringSetting, error.Message, StringComparison.Ordinal);
    }
}
