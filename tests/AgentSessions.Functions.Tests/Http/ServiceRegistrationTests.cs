using System.Reflection;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>The app's own container can build every function class, with local and with Azure-style settings.</summary>
public sealed class ServiceRegistrationTests
{
    public static TheoryData<string> StorageSettings => new()
    {
        "connection-string",
        "managed-identity",
    };

    [Theory]
    [MemberData(nameof(StorageSettings))]
    public void EveryFunctionClass_CanBeCreatedFromTheAppContainer(string storage)
    {
        var values = new Dictionary<string, string?> { ["SESSIONS_API_KEYS"] = "dev=dev-key-1" };
        if (storage == "connection-string")
        {
            values["AzureWebJobsStorage"] = "UseDevelopmentStorage=true";
        }
        else
        {
            values["AzureWebJobsStorage:accountName"] = "agentsessionsprod";
            values["AzureWebJobsStorage:credential"] = "managedidentity";
            values["AzureWebJobsStorage:clientId"] = "00000000-0000-0000-0000-000000000001";
        }

        // As the worker sees them: environment variables named with "__" arrive with ":".
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        using var provider = new ServiceCollection().AddLogging().AddAgentSessions(configuration).BuildServiceProvider();

        var functionClasses = typeof(SessionFunctions).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && t.GetMethods().Any(m => m.GetCustomAttribute<FunctionAttribute>() is not null))
            .ToList();
        Assert.Contains(typeof(MessageFunctions), functionClasses);
        foreach (var type in functionClasses)
        {
            Assert.NotNull(ActivatorUtilities.CreateInstance(provider, type));
        }

        Assert.NotNull(provider.GetRequiredService<IMessageStore>());
        Assert.NotNull(provider.GetRequiredService<ISessionClaims>());
    }
}
