from setuptools import find_packages, setup

package_name = 'heisenberg_testing'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Heisenberg developers',
    maintainer_email='dev@heisenberg.invalid',
    description='What the Heisenberg packages test with: a pytest plugin (a ROS domain per session, '
                'the real models and llama-server as fixtures), node processes, test speech, fault servers.',
    license='Apache-2.0',
    tests_require=['pytest'],
    # Loaded by every pytest run where this package is installed, so each package's tests run on
    # their own (colcon test --packages-select heisenberg_brain) as well as all together.
    entry_points={'pytest11': ['heisenberg = heisenberg_testing.pytest_plugin']},
)
